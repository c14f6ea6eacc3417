# expect: ok
# what: item assignment through loc, iloc, at and iat
import numpy as np
import pandas as pd


def indicator(df, **params):
    out = pd.DataFrame(index=df.index)
    out["up"] = 0.0
    out["level"] = df.close.copy()
    rising = df.close > df.open
    out.loc[rising, "up"] = 1.0
    out.iloc[:5, 1] = np.nan
    out.at[df.index[5], "level"] = -1.0
    out.iat[6, 1] = -2.0
    flag = df.close.copy()
    flag.iloc[0] = 0.0
    flag[df.index[1]] = 0.0
    out["flag"] = flag
    return out
