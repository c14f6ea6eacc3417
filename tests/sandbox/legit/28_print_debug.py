# expect: ok
# what: print() while computing (collected, never written to the worker's stdout)
def indicator(df, length=3, **params):
    result = df.close.shift(length)
    print("computed", length, "bars of lag", sep=" ")
    return result
