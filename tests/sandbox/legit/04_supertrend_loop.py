# expect: ok
# what: SuperTrend with a per-bar numpy loop and item assignment
# params: {"length": 10, "multiplier": 3.0}
import numpy as np
import pandas as pd


def indicator(df, length=10, multiplier=3.0, **params):
    high = df.high.to_numpy()
    low = df.low.to_numpy()
    close = df.close.to_numpy()
    previous_close = np.concatenate([[close[0]], close[:-1]])
    true_range = np.maximum(high - low, np.maximum(np.abs(high - previous_close), np.abs(low - previous_close)))
    atr = pd.Series(true_range, index=df.index).rolling(length).mean().to_numpy()
    middle = (high + low) / 2.0
    upper = middle + multiplier * atr
    lower = middle - multiplier * atr
    trend = np.ones(len(df))
    line = np.full(len(df), np.nan)
    for i in range(1, len(df)):
        if np.isnan(atr[i]):
            continue
        if close[i] > upper[i - 1]:
            trend[i] = 1.0
        elif close[i] < lower[i - 1]:
            trend[i] = -1.0
        else:
            trend[i] = trend[i - 1]
            if trend[i] > 0 and lower[i] < lower[i - 1]:
                lower[i] = lower[i - 1]
            if trend[i] < 0 and upper[i] > upper[i - 1]:
                upper[i] = upper[i - 1]
        line[i] = lower[i] if trend[i] > 0 else upper[i]
    return pd.DataFrame({"supertrend": line, "direction": trend}, index=df.index)
