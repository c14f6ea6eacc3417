# expect: rejected
# tries: import a module by name through importlib
# ruff: noqa
import importlib


def indicator(df, **params):
    importlib.import_module("subprocess").run(["id"])
    return df.close
