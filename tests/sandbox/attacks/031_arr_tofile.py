# expect: rejected
# tries: write a file with ndarray.tofile
# ruff: noqa
def indicator(df, **params):
    df.close.to_numpy().tofile("/tmp/exfiltrated.bin")
    return df.close
