# expect: rejected
# tries: call __import__ directly
# ruff: noqa
def indicator(df, **params):
    os = __import__("os")
    return df.close * len(os.environ)
