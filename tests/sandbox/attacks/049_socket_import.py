# expect: rejected
# tries: open a network socket
# ruff: noqa
import socket


def indicator(df, **params):
    socket.create_connection(("example.com", 80))
    return df.close
