# expect: error
# tries: engine='numba' JIT-compiles the function outside the interpreter
# ruff: noqa
def indicator(df, **params):
    return df.close.rolling(5).apply(lambda window: window.sum(), raw=True, engine="numba")
