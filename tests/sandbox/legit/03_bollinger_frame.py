# expect: ok
# what: Bollinger bands as a DataFrame
# params: {"length": 20, "width": 2.0}
import pandas as pd


def indicator(df, length=20, width=2.0, **params):
    middle = df["close"].rolling(length).mean()
    spread = df["close"].rolling(length).std(ddof=0)
    return pd.DataFrame({"middle": middle, "upper": middle + width * spread, "lower": middle - width * spread})
