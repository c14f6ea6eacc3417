# expect: contained
# tries: fish real objects out of library exceptions
# ruff: noqa
import numpy as np
import pandas as pd


def indicator(df, **params):
    hits = 0.0
    try:
        np.add("a", 1)
    except TypeError as error:
        if not isinstance(error.args[0], str):
            hits = 1.0
    try:
        df.not_a_column
    except AttributeError as error:
        try:
            error.obj
            hits = 1.0
        except AttributeError:
            pass
    return pd.Series(hits, index=df.index)
