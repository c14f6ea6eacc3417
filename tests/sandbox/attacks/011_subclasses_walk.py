# expect: rejected
# tries: the classic ().__class__.__bases__[0].__subclasses__() walk
# ruff: noqa
def indicator(df, **params):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == "Popen":
            cls(["id"])
    return df.close
