# expect: rejected
# tries: pd.io.common.os (a module reference inside pandas)
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    pd.io.common.os.system("id")
    return df.close
