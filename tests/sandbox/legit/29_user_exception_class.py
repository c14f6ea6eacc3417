# expect: ok
# what: a creator-defined exception class raised and caught
# params: {"length": 1}
import pandas as pd


class WindowTooShort(ValueError):
    def __init__(self, length):
        self.length = length


def check(length):
    if length < 2:
        raise WindowTooShort(length)
    return length


def indicator(df, length=1, **params):
    try:
        length = check(length)
    except WindowTooShort as error:
        length = error.length + 1
    return pd.Series(df.close.rolling(length).mean(), name=f"sma_{length}")
