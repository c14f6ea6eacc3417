# expect: ok
# what: deque windows, reduce, accumulate and Counter
# params: {"window": 5}
import collections
import functools
import itertools

import pandas as pd


def indicator(df, window=5, **params):
    buffer = collections.deque(maxlen=window)
    means = []
    for value in df.close:
        buffer.append(value)
        means.append(functools.reduce(lambda a, b: a + b, buffer) / len(buffer))
    running_max = list(itertools.accumulate(df.high, max))
    counts = collections.Counter(int(v) % 3 for v in df.volume)
    return {"mean": pd.Series(means, index=df.index), "running_max": pd.Series(running_max, index=df.index),
            "mod_zero": pd.Series(float(counts[0]), index=df.index)}
