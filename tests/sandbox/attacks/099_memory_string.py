# expect: limit memory
# tries: build a 10 GB string
# ruff: noqa
def indicator(df, **params):
    text = "x" * 10_000_000_000
    return df.close * len(text)
