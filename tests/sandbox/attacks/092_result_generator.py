# expect: error
# tries: return a live generator (its frame holds creator globals)
# ruff: noqa
def indicator(df, **params):
    return (value for value in df.close)
