# expect: rejected
# tries: replace a method on the pandas Series class
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    pd.Series.sum = lambda self: 0.0
    return df.close
