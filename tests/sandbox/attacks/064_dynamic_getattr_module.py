# expect: error
# tries: build the name np.load at run time
# ruff: noqa
import numpy as np


def indicator(df, **params):
    loader = getattr(np, "lo" + "ad")
    return df.close * len(loader("/tmp/x.npy", allow_pickle=True))
