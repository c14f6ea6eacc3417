# expect: error
# tries: np.ndarray(buffer=..., offset=...) over another object's memory
# ruff: noqa
import numpy as np


def indicator(df, **params):
    view = np.ndarray((1000,), dtype=np.float64, buffer=df.close.to_numpy(), offset=8)
    return df.close * view.sum()
