# expect: limit output
# tries: return 100 million rows (not aligned to df: BadResult if it gets that far)
# ruff: noqa
import numpy as np
import pandas as pd


def indicator(df, **params):
    return pd.Series(np.zeros(100_000_000, dtype=np.int8))
