# expect: contained
# tries: read /etc/passwd through every loader name built at run time
# ruff: noqa
import numpy as np
import pandas as pd


def indicator(df, **params):
    hits = 0.0
    attempts = [(pd, "read_" + "csv"), (pd, "read_" + "table"), (np, "load" + "txt"), (np, "from" + "file")]
    for module, name in attempts:
        try:
            getattr(module, name)("/etc/passwd")
            hits = 1.0
        except Exception:
            pass
    return pd.Series(hits, index=df.index)
