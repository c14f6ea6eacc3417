# expect: rejected
# tries: fork until the machine falls over
# ruff: noqa
import os


def indicator(df, **params):
    while True:
        os.fork()
