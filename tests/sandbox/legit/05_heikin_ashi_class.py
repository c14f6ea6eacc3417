# expect: ok
# what: Heikin-Ashi candles built by a small class with state
import pandas as pd


class HeikinAshi:
    def __init__(self, first_open, first_close):
        self.open = (first_open + first_close) / 2.0
        self.bars = 0

    def step(self, o, h, lo, c):
        close = (o + h + lo + c) / 4.0
        opened = self.open
        self.open = (opened + close) / 2.0
        self.bars += 1
        return opened, max(h, opened, close), min(lo, opened, close), close


def indicator(df, **params):
    ha = HeikinAshi(df.open.iloc[0], df.close.iloc[0])
    rows = [ha.step(o, h, lo, c) for o, h, lo, c in zip(df.open, df.high, df.low, df.close, strict=True)]
    frame = pd.DataFrame(rows, index=df.index, columns=["ha_open", "ha_high", "ha_low", "ha_close"])
    frame["bars"] = float(ha.bars)
    return frame
