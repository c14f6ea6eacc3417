# expect: rejected
# tries: sleep past the wall-clock limit
# ruff: noqa
import time


def indicator(df, **params):
    time.sleep(3600)
    return df.close
