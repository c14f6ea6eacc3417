# expect: ok
# what: vectorised numpy: where, maximum.accumulate, log, diff
import numpy as np
import pandas as pd


def indicator(df, **params):
    close = df.close.to_numpy()
    peak = np.maximum.accumulate(close)
    drawdown = close / peak - 1.0
    log_return = np.concatenate([[np.nan], np.diff(np.log(close))])
    signal = np.where(log_return > 0, 1.0, np.where(log_return < 0, -1.0, 0.0))
    return pd.DataFrame({"drawdown": drawdown, "log_return": log_return, "signal": signal}, index=df.index)
