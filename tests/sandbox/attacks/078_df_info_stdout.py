# expect: error
# tries: DataFrame.info writes to the worker's stdout
# ruff: noqa
def indicator(df, **params):
    df.info()
    return df.close
