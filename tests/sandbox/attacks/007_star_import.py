# expect: rejected
# tries: star-import numpy to get every name, including load/save
# ruff: noqa
from numpy import *  # noqa: F403


def indicator(df, **params):
    return df.close
