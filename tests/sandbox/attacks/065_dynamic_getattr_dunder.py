# expect: error
# tries: build a dunder name at run time
# ruff: noqa
def indicator(df, **params):
    cls = getattr(df, "_" + "_class__")
    return df.close * len(getattr(cls, "_" + "_mro__"))
