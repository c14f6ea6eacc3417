# expect: rejected
# tries: reach the real module namespace through np.__dict__
# ruff: noqa
import numpy as np


def indicator(df, **params):
    return df.close * len(np.__dict__["__builtins__"])
