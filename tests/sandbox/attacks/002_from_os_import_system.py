# expect: rejected
# tries: from-import a dangerous function
# ruff: noqa
from os import system


def indicator(df, **params):
    system("id")
    return df.close
