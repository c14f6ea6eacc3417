# expect: rejected
# tries: a result object whose __reduce__ runs a command when unpickled
# ruff: noqa
class Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def indicator(df, **params):
    return {"value": Payload()}
