# expect: rejected
# tries: as_strided with huge strides reads memory outside the array
# ruff: noqa
import numpy as np


def indicator(df, **params):
    values = df.close.to_numpy()
    window = np.lib.stride_tricks.as_strided(values, shape=(10,), strides=(1 << 20,))
    return df.close * window.sum()
