# expect: error
# tries: AttributeError.obj hands back the object whose attribute was missing
# ruff: noqa
def indicator(df, **params):
    try:
        df.not_a_column
    except AttributeError as error:
        leaked = error.obj
        return df.close * len(leaked)
    return df.close
