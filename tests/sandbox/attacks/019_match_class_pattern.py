# expect: rejected
# tries: match/case class patterns read attributes without the guard
# ruff: noqa
def indicator(df, **params):
    match df:
        case object(__class__=cls):
            return df.close * len(cls.__mro__)
    return df.close
