# expect: error
# tries: convert an array to object dtype
# ruff: noqa
def indicator(df, **params):
    objects = df.close.to_numpy().astype(object)
    return df.close * len(objects)
