# expect: ok
# what: Donchian channel with a dict comprehension
# params: {"length": 20}
def indicator(df, length=20, **params):
    upper = df.high.rolling(length).max()
    lower = df.low.rolling(length).min()
    bands = {"upper": upper, "lower": lower, "middle": (upper + lower) / 2}
    return {name: series for name, series in sorted(bands.items())}
