# expect: error
# tries: format() with a replacement field as the spec
# ruff: noqa
def indicator(df, **params):
    text = format(df, "{0.__class__}")
    return df.close * len(text)
