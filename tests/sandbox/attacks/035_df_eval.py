# expect: rejected
# tries: DataFrame.eval assigning through an expression string
# ruff: noqa
def indicator(df, **params):
    return df.eval("x = close * 2").x
