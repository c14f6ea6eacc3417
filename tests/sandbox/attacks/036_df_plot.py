# expect: rejected
# tries: df.plot imports a plotting back-end by name
# ruff: noqa
def indicator(df, **params):
    df.plot(backend="os")
    return df.close
