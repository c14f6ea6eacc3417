# expect: contained
# tries: monkeypatch math, numpy and pandas by routes the compiler cannot see
# ruff: noqa
import math

import numpy as np
import pandas as pd


def indicator(df, **params):
    targets = [(math, "pi"), (np, "mean"), (np.linalg, "inv"), (df.close, "sum"), (df, "rolling")]
    for target, name in targets:
        try:
            holder = target
            holder.replacement = 0
            if name == "pi":
                holder.pi = 3.0
            else:
                holder.mean = None
        except TypeError:
            pass
    changed = math.pi == 3.0 or np.mean([1.0, 3.0]) != 2.0
    return pd.Series(1.0 if changed else 0.0, index=df.index)
