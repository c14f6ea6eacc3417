# expect: error
# tries: an object array holding arbitrary objects
# ruff: noqa
import numpy as np


def indicator(df, **params):
    objects = np.array([np, len, None], dtype=object)
    return df.close * len(objects)
