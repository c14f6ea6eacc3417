# expect: error
# tries: Series.array exposes the extension array's internals
# ruff: noqa
def indicator(df, **params):
    backing = df.close.array
    return df.close * len(backing)
