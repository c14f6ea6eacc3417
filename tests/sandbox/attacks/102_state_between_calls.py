# expect: contained
# tries: keep module-level state from one call to the next
# ruff: noqa
import pandas as pd

SEEN = []


def indicator(df, **params):
    leaked = 1.0 if SEEN else 0.0
    SEEN.append(len(df))
    return pd.Series(leaked, index=df.index)
