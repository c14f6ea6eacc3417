# expect: ok
# what: cumulative VWAP and its distance from the close
def indicator(df, **params):
    typical = (df.high + df.low + df.close) / 3.0
    vwap = (typical * df.volume).cumsum() / df.volume.cumsum()
    return {"vwap": vwap, "distance": df.close / vwap - 1.0}
