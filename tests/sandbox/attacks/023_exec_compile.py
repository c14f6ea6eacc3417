# expect: rejected
# tries: compile and exec new code at run time
# ruff: noqa
def indicator(df, **params):
    namespace = {}
    exec(compile("import os", "x", "exec"), namespace)
    return df.close
