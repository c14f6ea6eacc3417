# expect: error
# tries: unbounded recursion (RecursionError, caught as an indicator error)
# ruff: noqa
def deeper(n):
    return deeper(n + 1) + 1


def indicator(df, **params):
    return df.close * deeper(0)
