# expect: rejected
# tries: a class with a custom metaclass
# ruff: noqa
class Meta(type):
    pass


class Evil(metaclass=Meta):
    pass


def indicator(df, **params):
    return df.close
