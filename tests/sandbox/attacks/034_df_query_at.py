# expect: rejected
# tries: df.query with @-references and the python engine
# ruff: noqa
def indicator(df, **params):
    threshold = 0
    return df.query("close > @threshold", engine="python").close
