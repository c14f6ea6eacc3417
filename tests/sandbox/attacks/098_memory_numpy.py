# expect: limit memory
# tries: allocate a 160 GB numpy array
# ruff: noqa
import numpy as np


def indicator(df, **params):
    block = np.ones((200_000, 100_000))
    return df.close * block[0, 0]
