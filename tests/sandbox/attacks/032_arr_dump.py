# expect: rejected
# tries: pickle an array to a file with ndarray.dump
# ruff: noqa
def indicator(df, **params):
    df.close.to_numpy().dump("/tmp/exfiltrated.pkl")
    return df.close
