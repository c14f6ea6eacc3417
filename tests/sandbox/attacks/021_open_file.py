# expect: rejected
# tries: read /etc/passwd with open()
# ruff: noqa
def indicator(df, **params):
    with open("/etc/passwd") as handle:
        text = handle.read()
    return df.close * len(text)
