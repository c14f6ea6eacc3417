# expect: error
# tries: type(name, bases, dict) builds a class outside the class statement
# ruff: noqa
def indicator(df, **params):
    cls = type("X", (), {"value": 1})
    return df.close * cls.value
