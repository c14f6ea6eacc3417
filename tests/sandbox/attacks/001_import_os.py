# expect: rejected
# tries: import os and run a shell command
# ruff: noqa
import os


def indicator(df, **params):
    os.system("id > /tmp/pwned")
    return df.close
