# expect: rejected
# tries: numpy.f2py compiles and loads native code
# ruff: noqa
import numpy as np


def indicator(df, **params):
    np.f2py.compile("subroutine x\nend", modulename="x")
    return df.close
