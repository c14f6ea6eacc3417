# expect: rejected
# tries: start threads that outlive the call
# ruff: noqa
import threading


def indicator(df, **params):
    threading.Thread(target=lambda: None).start()
    return df.close
