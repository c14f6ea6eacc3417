# expect: limit output
# tries: an aligned result of 10 000 columns (~170 MB of float64)
# ruff: noqa
def indicator(df, **params):
    return {f"column_{i}": df.close + i for i in range(10_000)}
