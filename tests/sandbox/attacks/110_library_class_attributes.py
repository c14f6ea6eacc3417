# expect: contained
# tries: reach class-level methods of library types through type()
# ruff: noqa
import pandas as pd


def indicator(df, **params):
    hits = 0.0
    for value in (df.index[0], pd.Timedelta(1), 1.5, "text"):
        for name in ("now", "to_" + "pickle", "format", "fromtimestamp"):
            try:
                getattr(type(value), name)
                if name != "fromtimestamp":
                    hits = 1.0
            except (AttributeError, TypeError):
                pass
    return pd.Series(hits, index=df.index)
