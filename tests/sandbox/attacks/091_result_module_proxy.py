# expect: error
# tries: return a module proxy for the host to unpickle
# ruff: noqa
import numpy as np


def indicator(df, **params):
    return np
