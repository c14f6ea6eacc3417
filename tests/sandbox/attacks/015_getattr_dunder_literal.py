# expect: rejected
# tries: getattr with a dunder name written as a literal
# ruff: noqa
def indicator(df, **params):
    cls = getattr(df, "__class__")
    return df.close * len(cls.__mro__)
