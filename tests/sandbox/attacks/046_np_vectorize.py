# expect: rejected
# tries: np.vectorize wraps a function numpy calls per element
# ruff: noqa
import numpy as np


def indicator(df, **params):
    return df.close * np.vectorize(len)(["a"])[0]
