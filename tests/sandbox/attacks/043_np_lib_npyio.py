# expect: rejected
# tries: np.lib.npyio (the loaders, and pickle through them)
# ruff: noqa
import numpy as np


def indicator(df, **params):
    np.lib.npyio.pickle.loads(b"")
    return df.close
