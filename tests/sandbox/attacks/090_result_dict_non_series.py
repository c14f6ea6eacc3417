# expect: error
# tries: a dict whose values are not Series
# ruff: noqa
def indicator(df, **params):
    return {"value": [1.0] * len(df), "other": "text"}
