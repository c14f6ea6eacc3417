# expect: rejected
# tries: pd.eval with the python engine
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    return pd.eval("df.close * 2", engine="python")
