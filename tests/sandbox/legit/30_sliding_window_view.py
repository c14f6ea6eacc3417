# expect: ok
# what: numpy's sliding_window_view for rolling statistics
# params: {"length": 7}
import numpy as np
import pandas as pd


def indicator(df, length=7, **params):
    windows = np.lib.stride_tricks.sliding_window_view(df.close.to_numpy(), length)
    spread = windows.max(axis=1) - windows.min(axis=1)
    padded = np.concatenate([np.full(length - 1, np.nan), spread])
    return pd.Series(padded, index=df.index, name="range")
