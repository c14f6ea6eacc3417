# expect: rejected
# tries: type(x).mro() to reach object and its subclasses
# ruff: noqa
def indicator(df, **params):
    base = type(1.0).mro()[-1]
    return df.close * len(base.mro())
