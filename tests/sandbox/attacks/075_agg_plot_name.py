# expect: error
# tries: Series.agg('plot') resolves a method by name
# ruff: noqa
def indicator(df, **params):
    df.close.agg("plot")
    return df.close
