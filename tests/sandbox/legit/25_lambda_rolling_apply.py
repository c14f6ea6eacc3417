# expect: ok
# what: rolling apply with a lambda on raw windows
# params: {"length": 5}
def indicator(df, length=5, **params):
    change = df.close.rolling(length).apply(lambda window: window[-1] - window[0], raw=True)
    rank = df.close.rolling(length).apply(lambda window: (window < window[-1]).mean(), raw=True)
    return {"change": change, "rank": rank}
