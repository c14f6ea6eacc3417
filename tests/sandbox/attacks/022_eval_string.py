# expect: rejected
# tries: evaluate a string with eval()
# ruff: noqa
def indicator(df, **params):
    return df.close * eval("1 + 1")
