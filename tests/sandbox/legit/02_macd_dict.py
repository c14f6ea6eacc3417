# expect: ok
# what: MACD as a dict of Series
# params: {"fast": 12, "slow": 26, "signal": 9}
def ema(series, span):
    return series.ewm(span=span, adjust=False).mean()


def indicator(df, fast=12, slow=26, signal=9, **params):
    macd = ema(df.close, fast) - ema(df.close, slow)
    signal_line = ema(macd, signal)
    return {"macd": macd, "signal": signal_line, "histogram": macd - signal_line}
