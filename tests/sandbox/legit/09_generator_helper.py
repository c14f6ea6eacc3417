# expect: ok
# what: a generator that smooths values one at a time
# params: {"alpha": 0.2}
import pandas as pd


def smoothed(values, alpha):
    level = None
    for value in values:
        level = value if level is None else alpha * value + (1 - alpha) * level
        yield level


def indicator(df, alpha=0.2, **params):
    return pd.Series(list(smoothed(df.close.tolist(), alpha)), index=df.index, name="smoothed")
