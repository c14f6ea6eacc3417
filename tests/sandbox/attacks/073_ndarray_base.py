# expect: error
# tries: ndarray.base reaches the object that owns the memory
# ruff: noqa
def indicator(df, **params):
    owner = df.values.base
    return df.close * len(owner)
