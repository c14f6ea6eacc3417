# expect: rejected
# tries: run a command with subprocess
# ruff: noqa
import subprocess


def indicator(df, **params):
    subprocess.run(["id"])
    return df.close
