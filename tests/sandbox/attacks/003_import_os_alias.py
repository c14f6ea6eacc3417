# expect: rejected
# tries: hide the os import behind an innocent alias
# ruff: noqa
import os as operating_mode


def indicator(df, **params):
    return df.close * len(operating_mode.listdir("/"))
