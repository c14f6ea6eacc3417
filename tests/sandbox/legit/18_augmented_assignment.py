# expect: ok
# what: augmented assignment of names, items, attributes and loc cells
import numpy as np
import pandas as pd


class Counter:
    def __init__(self):
        self.total = 0.0
        self.count = 0


def indicator(df, **params):
    values = df.close.to_numpy(copy=True)
    counter = Counter()
    tally = {"up": 0}
    running = np.zeros(len(values))
    for i in range(1, len(values)):
        running[i] = running[i - 1]
        running[i] += values[i] - values[i - 1]
        counter.total += values[i]
        counter.count += 1
        if values[i] > values[i - 1]:
            tally["up"] += 1
    out = pd.DataFrame({"running": running}, index=df.index)
    out["mean"] = counter.total / counter.count
    out.loc[out.running > 0, "running"] *= 2.0
    out["up"] = float(tally["up"])
    return out
