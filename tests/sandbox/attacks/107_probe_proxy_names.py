# expect: contained
# tries: probe the module proxies for every dangerous name
# ruff: noqa
import numpy as np
import pandas as pd

NAMES = ["os", "sys", "load", "save", "ctypeslib", "testing", "f2py", "api", "io", "options", "eval",
         "set_option", "read_pickle", "compat", "core", "util", "plotting", "show_config"]


def indicator(df, **params):
    hits = 0.0
    for module in (np, pd):
        for name in NAMES:
            try:
                getattr(module, name)
                hits = 1.0
            except AttributeError:
                pass
    return pd.Series(hits, index=df.index)
