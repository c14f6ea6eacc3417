# expect: ok
# what: the math module in a per-bar loop
import math

import pandas as pd


def indicator(df, **params):
    values = []
    for close, volume in zip(df.close, df.volume, strict=True):
        values.append(math.log(close) * math.sqrt(volume) / math.pi if math.isfinite(close) else math.nan)
    return pd.Series(values, index=df.index, name="log_weighted")
