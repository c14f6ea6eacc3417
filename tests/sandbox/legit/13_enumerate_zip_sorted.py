# expect: ok
# what: builtins: enumerate, zip, sorted, min, max, sum, abs, round, len
import pandas as pd


def indicator(df, **params):
    closes = df.close.tolist()
    ranks = [0.0] * len(closes)
    window = []
    for i, (high, low) in enumerate(zip(df.high, df.low, strict=True)):
        window.append(round(abs(high - low), 6))
        if len(window) > 10:
            window.pop(0)
        ordered = sorted(window)
        ranks[i] = ordered.index(window[-1]) / max(len(ordered) - 1, 1) + sum(ordered) * 0 + min(ordered) * 0
    return pd.Series(ranks, index=df.index, name="range_rank")
