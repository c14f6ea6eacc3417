# expect: error
# tries: str.format called on the class, bypassing instance checks
# ruff: noqa
def indicator(df, **params):
    text = str.format("{0.__class__}", df)
    return df.close * len(text)
