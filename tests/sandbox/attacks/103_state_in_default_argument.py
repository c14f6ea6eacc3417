# expect: contained
# tries: keep state in a mutable default argument
# ruff: noqa
import pandas as pd


def indicator(df, memory=[], **params):  # noqa: B006
    leaked = 1.0 if memory else 0.0
    memory.append(1)
    return pd.Series(leaked, index=df.index)
