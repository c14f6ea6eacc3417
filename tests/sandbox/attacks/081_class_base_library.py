# expect: error
# tries: subclass a library class to inherit its dangerous methods
# ruff: noqa
import pandas as pd


class Evil(pd.Series):
    pass


def indicator(df, **params):
    return Evil(df.close)
