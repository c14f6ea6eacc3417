# expect: rejected
# tries: write a pickle file with df.to_pickle
# ruff: noqa
def indicator(df, **params):
    df.to_pickle("/tmp/exfiltrated.pkl")
    return df.close
