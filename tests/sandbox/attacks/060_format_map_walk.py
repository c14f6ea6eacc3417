# expect: error
# tries: format_map with attribute lookups in the field
# ruff: noqa
def indicator(df, **params):
    text = "{fn.__globals__}".format_map({"fn": indicator})
    return df.close * len(text)
