# expect: ok
# what: a DataFrame built from comprehensions
import pandas as pd


def indicator(df, horizons=(1, 5, 20), **params):
    returns = {f"ret_{k}": df.close.pct_change(k) for k in horizons}
    positive = [name for name, series in returns.items() if series.mean() > 0]
    frame = pd.DataFrame(returns)
    frame["positive_horizons"] = float(len(positive))
    return frame
