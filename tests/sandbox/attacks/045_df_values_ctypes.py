# expect: rejected
# tries: the raw data pointer through ndarray.ctypes
# ruff: noqa
def indicator(df, **params):
    address = df.values.ctypes.data
    return df.close * address
