# expect: ok
# what: a seeded numpy Generator (deterministic noise)
# params: {"seed": 7}
import numpy as np
import pandas as pd


def indicator(df, seed=42, **params):
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, size=len(df))
    return pd.Series(df.close.to_numpy() + noise, index=df.index, name="noisy")
