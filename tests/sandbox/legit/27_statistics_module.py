# expect: ok
# what: the statistics module over a short window
# params: {"length": 10}
import statistics

import pandas as pd


def indicator(df, length=10, **params):
    closes = df.close.tolist()
    values = [float("nan")] * len(closes)
    for i in range(length - 1, len(closes)):
        window = closes[i - length + 1 : i + 1]
        values[i] = statistics.fmean(window) - statistics.median(window)
    return pd.Series(values, index=df.index, name="mean_minus_median")
