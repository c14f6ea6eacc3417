# expect: ok
# what: alphabook's own indicator library from inside the sandbox
# params: {"timeperiod": 14}
from alphabook.research.indicators import compute, get


def indicator(df, timeperiod=14, **params):
    rsi = compute("rsi", df, timeperiod=timeperiod)
    warmup = get("rsi").warmup(timeperiod=timeperiod)
    bands = compute("bbands", df, timeperiod=20)
    out = {"rsi": rsi, "warm": (df.close * 0 + warmup)}
    for column in bands.columns:
        out[f"bb_{column}"] = bands[column]
    return out
