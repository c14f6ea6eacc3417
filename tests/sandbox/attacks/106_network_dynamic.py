# expect: contained
# tries: reach the network through pandas readers that accept URLs
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    hits = 0.0
    for name in ("read_" + "csv", "read_" + "json", "read_" + "html"):
        try:
            getattr(pd, name)("http://example.com/")
            hits = 1.0
        except Exception:
            pass
    return pd.Series(hits, index=df.index)
