# expect: error
# tries: return an object of a creator class instead of data
# ruff: noqa
class Payload:
    def __init__(self):
        self.command = "id"


def indicator(df, **params):
    return Payload()
