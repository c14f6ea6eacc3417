# expect: error
# tries: type(np) to get the proxy class and its internals
# ruff: noqa
import numpy as np


def indicator(df, **params):
    proxy_class = type(np)
    return df.close * len(proxy_class("os", {}).listdir("/"))
