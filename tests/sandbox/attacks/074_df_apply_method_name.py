# expect: error
# tries: df.apply with a method name pandas resolves with getattr
# ruff: noqa
def indicator(df, **params):
    df.apply("to_pickle", path="/tmp/exfiltrated.pkl")
    return df.close
