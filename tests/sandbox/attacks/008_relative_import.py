# expect: rejected
# tries: relative import into the host package
# ruff: noqa
from . import policy


def indicator(df, **params):
    return df.close
