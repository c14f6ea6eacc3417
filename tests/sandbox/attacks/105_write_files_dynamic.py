# expect: contained
# tries: write a file through every writer name built at run time
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    hits = 0.0
    for name in ("to_" + "csv", "to_" + "pickle", "to_" + "json", "to_" + "string"):
        try:
            getattr(df, name)("/tmp/alphabook_sandbox_escape")
            hits = 1.0
        except Exception:
            pass
    try:
        getattr(df.close.to_numpy(), "to" + "file")("/tmp/alphabook_sandbox_escape")
        hits = 1.0
    except Exception:
        pass
    return pd.Series(hits, index=df.index)
