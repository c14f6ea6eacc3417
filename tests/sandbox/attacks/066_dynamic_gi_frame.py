# expect: error
# tries: build gi_frame at run time
# ruff: noqa
def indicator(df, **params):
    gen = (x for x in [1])
    frame = getattr(gen, "gi_" + "frame")
    return df.close * len(getattr(frame, "f_" + "globals"))
