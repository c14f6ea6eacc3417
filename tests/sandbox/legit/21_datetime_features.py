# expect: ok
# what: calendar features from the DatetimeIndex and datetime arithmetic
import datetime

import numpy as np
import pandas as pd


def indicator(df, **params):
    index = df.index
    monday = (index.day_of_week == 0).astype(float)
    first = index[0]
    age = np.array([(ts - first) / datetime.timedelta(days=1) for ts in index])
    month_end = pd.Series(index.is_month_end, index=index).astype(float)
    return {"monday": pd.Series(monday, index=index), "age_days": pd.Series(age, index=index),
            "month_end": month_end, "month": pd.Series(index.month, index=index).astype(float)}
