# expect: rejected
# tries: write files with np.save
# ruff: noqa
import numpy as np


def indicator(df, **params):
    np.save("/tmp/exfiltrated.npy", df.values)
    return df.close
