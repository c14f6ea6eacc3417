# expect: rejected
# tries: reach os through sys.modules
# ruff: noqa
import sys


def indicator(df, **params):
    sys.modules["os"].system("id")
    return df.close
