# expect: rejected
# tries: network access through pd.read_csv with a URL
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    remote = pd.read_csv("http://example.com/data.csv")
    return df.close * len(remote)
