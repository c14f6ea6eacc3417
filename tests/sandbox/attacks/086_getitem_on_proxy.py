# expect: error
# tries: index a module proxy like a dict
# ruff: noqa
import numpy as np


def indicator(df, **params):
    return df.close * len(np["load"])
