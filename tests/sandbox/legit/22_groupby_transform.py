# expect: ok
# what: per-year statistics broadcast back with groupby/transform
def indicator(df, **params):
    by_year = df.groupby(df.index.year).close
    return {"year_mean": by_year.transform("mean"), "year_rank": by_year.rank(pct=True),
            "year_max": by_year.transform(lambda series: series.max())}
