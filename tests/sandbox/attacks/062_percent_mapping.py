# expect: error
# tries: %-formatting with a mapping to look up dunder keys
# ruff: noqa
def indicator(df, **params):
    text = "%(__class__)s" % df
    return df.close * len(text)
