# expect: error
# tries: assign over a method on a pandas object
# ruff: noqa
def indicator(df, **params):
    close = df.close
    close.sum = lambda: 0.0
    return close
