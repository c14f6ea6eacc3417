# expect: ok
# what: Wilder's RSI with an exponential moving average
# params: {"length": 14}
def indicator(df, length=14, **params):
    delta = df.close.diff()
    gain = delta.clip(lower=0.0).ewm(alpha=1.0 / length, adjust=False, min_periods=length).mean()
    loss = (-delta).clip(lower=0.0).ewm(alpha=1.0 / length, adjust=False, min_periods=length).mean()
    rs = gain / loss
    rsi = 100.0 - 100.0 / (1.0 + rs)
    rsi.name = f"rsi_{length}"
    return rsi
