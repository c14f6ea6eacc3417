# expect: rejected
# tries: change math.pi for later calls
# ruff: noqa
import math


def indicator(df, **params):
    math.pi = 3
    return df.close
