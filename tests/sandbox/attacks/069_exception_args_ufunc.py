# expect: error
# tries: numpy's UFuncTypeError carries the real ufunc in args
# ruff: noqa
import numpy as np


def indicator(df, **params):
    try:
        np.add("a", 1)
    except TypeError as error:
        ufunc = error.args[0]
        return df.close * ufunc.reduce([1, 2])
    return df.close
