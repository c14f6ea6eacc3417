# expect: ok
# what: isinstance against pandas types, starred unpacking and **kwargs forwarding
import pandas as pd


def combine(*series, **weights):
    total = 0
    for name, item in zip(weights, series, strict=True):
        total = total + item * weights[name]
    return total


def indicator(df, **params):
    first, *rest = [df.open, df.high, df.low, df.close]
    weights = {"open": 0.1, "high": 0.2, "low": 0.3, "close": 0.4}
    blended = combine(first, *rest, **weights)
    assert isinstance(blended, pd.Series) and isinstance(df, (pd.DataFrame, pd.Series))
    assert not isinstance(1.0, pd.Series)
    return blended.rename("blend")
