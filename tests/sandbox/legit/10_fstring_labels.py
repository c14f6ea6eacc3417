# expect: ok
# what: columns labelled with f-strings, including format specs
def indicator(df, **params):
    out = {}
    for length in (5, 10, 20):
        out[f"sma_{length}"] = df.close.rolling(length).mean()
    for ratio in (0.5, 1.5):
        out[f"scaled_{ratio:.1f}x"] = df.close * ratio
    return out
