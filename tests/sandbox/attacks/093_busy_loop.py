# expect: limit cpu
# tries: an infinite pure-Python loop
# ruff: noqa
def indicator(df, **params):
    n = 0
    while True:
        n += 1
