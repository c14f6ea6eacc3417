# expect: rejected
# tries: the os module that numpy imports (np.os)
# ruff: noqa
import numpy as np


def indicator(df, **params):
    np.os.system("id")
    return df.close
