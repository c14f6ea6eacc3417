# expect: error
# tries: monkeypatch a module through an alias the compiler cannot see
# ruff: noqa
import numpy as np


def indicator(df, **params):
    module = np
    module.mean = lambda *args, **kwargs: 0.0
    return df.close
