# expect: rejected
# tries: coroutines and their cr_frame
# ruff: noqa
async def helper():
    return 1


def indicator(df, **params):
    coroutine = helper()
    return df.close * len(coroutine.cr_frame.f_globals)
