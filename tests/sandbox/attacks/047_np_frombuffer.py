# expect: rejected
# tries: np.frombuffer over an arbitrary buffer
# ruff: noqa
import numpy as np


def indicator(df, **params):
    return df.close * np.frombuffer(b"abcdefgh", dtype=np.float64)[0]
