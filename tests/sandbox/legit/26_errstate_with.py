# expect: ok
# what: a with-statement around numpy's errstate
import numpy as np
import pandas as pd


def indicator(df, **params):
    spread = (df.high - df.low).to_numpy()
    body = (df.close - df.open).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(spread > 0, body / spread, np.nan)
    return pd.Series(ratio, index=df.index, name="body_ratio")
