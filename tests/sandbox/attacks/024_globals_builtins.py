# expect: rejected
# tries: globals()['__builtins__'] to get the real builtins
# ruff: noqa
def indicator(df, **params):
    real = globals()["__builtins__"]
    return df.close * len(real)
