# expect: limit cpu
# tries: burn CPU inside numpy's C loops, where no Python-level timer can interrupt
# ruff: noqa
import numpy as np


def indicator(df, **params):
    values = np.random.default_rng(0).random(5_000_000)
    total = 0.0
    while True:
        total += np.sort(values)[0]
