# expect: rejected
# tries: pd.read_pickle of an attacker-supplied file
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    return pd.read_pickle("/tmp/payload.pkl")
