# expect: rejected
# tries: map a file into memory with np.memmap
# ruff: noqa
import numpy as np


def indicator(df, **params):
    mapped = np.memmap("/etc/passwd", dtype=np.uint8, mode="r")
    return df.close * len(mapped)
