# expect: rejected
# tries: walk gi_frame.f_back.f_globals out of a generator
# ruff: noqa
def indicator(df, **params):
    gen = (x for x in [1])
    host_globals = gen.gi_frame.f_back.f_globals
    return df.close * len(host_globals)
