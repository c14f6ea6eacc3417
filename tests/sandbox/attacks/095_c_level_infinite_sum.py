# expect: limit cpu
# tries: sum() over itertools.count(): an infinite loop entirely in C
# ruff: noqa
import itertools


def indicator(df, **params):
    return df.close * sum(itertools.count())
