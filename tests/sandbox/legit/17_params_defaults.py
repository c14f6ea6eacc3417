# expect: ok
# what: keyword-only parameters with defaults, some overridden
# params: {"fast": 8, "kind": "ema"}
def indicator(df, fast=5, slow=20, *, kind="sma", scale=1.0, **params):
    if kind == "sma":
        fast_line = df.close.rolling(fast).mean()
        slow_line = df.close.rolling(slow).mean()
    else:
        fast_line = df.close.ewm(span=fast).mean()
        slow_line = df.close.ewm(span=slow).mean()
    return ((fast_line - slow_line) * scale).rename(f"{kind}_{fast}_{slow}")
