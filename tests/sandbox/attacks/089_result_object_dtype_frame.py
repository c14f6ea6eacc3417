# expect: error
# tries: a DataFrame of object dtype holding creator objects
# ruff: noqa
import pandas as pd


class Payload:
    pass


def indicator(df, **params):
    return pd.DataFrame({"value": [Payload() for _ in range(len(df))]}, index=df.index)
