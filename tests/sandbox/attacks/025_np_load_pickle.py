# expect: rejected
# tries: np.load with allow_pickle (runs code while unpickling)
# ruff: noqa
import numpy as np


def indicator(df, **params):
    data = np.load("/tmp/payload.npy", allow_pickle=True)
    return df.close * data.sum()
