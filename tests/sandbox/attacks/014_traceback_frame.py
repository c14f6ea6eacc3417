# expect: rejected
# tries: walk an exception's __traceback__ to a library frame
# ruff: noqa
def indicator(df, **params):
    try:
        df.close.rolling(-1)
    except ValueError as error:
        frame = error.__traceback__.tb_next.tb_frame
        return df.close * len(frame.f_globals)
    return df.close
