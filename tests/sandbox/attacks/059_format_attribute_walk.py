# expect: error
# tries: str.format field names walk attributes: '{0.__class__}'
# ruff: noqa
def indicator(df, **params):
    text = "{0.__class__.__init__.__globals__}".format(df)
    return df.close * len(text)
