# expect: rejected
# tries: from-import a numpy submodule that is not proxied
# ruff: noqa
from numpy import testing


def indicator(df, **params):
    return df.close
