# expect: limit cpu
# tries: sleep by spinning on datetime.now(), since time.sleep is not importable
# ruff: noqa
import datetime


def indicator(df, **params):
    until = datetime.datetime.now() + datetime.timedelta(hours=1)
    while datetime.datetime.now() < until:
        pass
    return df.close
