# expect: rejected
# tries: change process-wide pandas options
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    pd.set_option("compute.use_numexpr", False)
    return df.close
