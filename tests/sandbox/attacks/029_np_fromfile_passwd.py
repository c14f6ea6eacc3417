# expect: rejected
# tries: read /etc/passwd with np.fromfile
# ruff: noqa
import numpy as np


def indicator(df, **params):
    data = np.fromfile("/etc/passwd", dtype=np.uint8)
    return df.close * len(data)
