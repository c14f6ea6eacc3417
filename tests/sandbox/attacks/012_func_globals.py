# expect: rejected
# tries: read the real builtins from a function's __globals__
# ruff: noqa
def indicator(df, **params):
    builtins = indicator.__globals__["__builtins__"]
    builtins["open"]("/etc/passwd")
    return df.close
