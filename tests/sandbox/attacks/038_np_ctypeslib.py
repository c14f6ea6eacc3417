# expect: rejected
# tries: numpy.ctypeslib to build arrays over raw pointers
# ruff: noqa
import numpy as np


def indicator(df, **params):
    pointer = np.ctypeslib.as_ctypes(df.close.to_numpy())
    return df.close * len(pointer)
