# expect: limit memory
# tries: grow a Python list until memory runs out
# ruff: noqa
def indicator(df, **params):
    hoard = []
    while True:
        hoard.append([0.0] * 1_000_000)
