# expect: ok
# what: rolling z-score of the close
# params: {"length": 30}
def indicator(df, length=30, **params):
    rolling = df.close.rolling(length, min_periods=length)
    return ((df.close - rolling.mean()) / rolling.std()).rename("zscore")
