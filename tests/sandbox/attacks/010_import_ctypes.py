# expect: rejected
# tries: import ctypes to read raw memory
# ruff: noqa
import ctypes


def indicator(df, **params):
    return df.close * ctypes.sizeof(ctypes.c_void_p)
