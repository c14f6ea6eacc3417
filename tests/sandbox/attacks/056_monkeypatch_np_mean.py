# expect: rejected
# tries: replace np.mean for later calls
# ruff: noqa
import numpy as np


def indicator(df, **params):
    np.mean = lambda *args, **kwargs: 0.0
    return df.close
