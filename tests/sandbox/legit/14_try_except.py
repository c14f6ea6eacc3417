# expect: ok
# what: exceptions raised and caught inside the indicator
import math

import pandas as pd


def safe_ratio(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        return math.nan


def indicator(df, **params):
    lookup = {"close": df.close}
    try:
        series = lookup["missing"]
    except KeyError:
        series = lookup["close"]
    try:
        int("not a number")
    except (ValueError, TypeError) as error:
        message = str(error)
    pairs = enumerate(zip(series, df.volume, strict=True))
    values = [safe_ratio(c, v - v) if i % 7 == 0 else safe_ratio(c, v) for i, (c, v) in pairs]
    return pd.Series(values, index=df.index, name=f"ratio_{len(message) > 0}")
