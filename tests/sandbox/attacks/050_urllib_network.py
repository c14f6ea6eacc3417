# expect: rejected
# tries: fetch a URL with urllib
# ruff: noqa
import urllib.request


def indicator(df, **params):
    urllib.request.urlopen("http://example.com")
    return df.close
