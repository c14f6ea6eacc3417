# expect: ok
# what: labels built with str.format (plain fields only)
# params: {"length": 10}
def indicator(df, length=10, **params):
    label = "{}_{}".format("momentum", length)
    detail = "{name}:{value:.3f}".format(name="mean", value=float(df.close.mean()))
    keyed = "{k}".format_map({"k": "ok"})
    series = df.close.diff(length)
    series.name = label + ("" if detail and keyed else "_")
    return series
