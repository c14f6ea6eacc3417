# expect: error
# tries: rolling(win_type=...) is looked up by name in scipy.signal.windows
# ruff: noqa
def indicator(df, **params):
    return df.close.rolling(5, win_type="get_window").sum()
