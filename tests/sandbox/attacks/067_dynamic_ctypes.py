# expect: error
# tries: build ctypes at run time on an ndarray
# ruff: noqa
def indicator(df, **params):
    raw = getattr(df.close.to_numpy(), "ct" + "ypes")
    return df.close * raw.data
