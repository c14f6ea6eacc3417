"""Market: the crypto Fear & Greed index as a gauge with its components and history, headline sentiment per symbol
and the latest news (issue #11), open to everyone.

What it shows is what the sentiment refresh stored (the ``sentiment-refresh`` platform job or
``alphabook sentiment refresh``), read through :mod:`alphabook.sentiment.queries` and shaped by the API's own
schemas, so the page and ``/api/indicators/fear-greed``, ``/api/sentiment/{symbol}`` and ``/api/news`` always agree.
plotly draws the gauge and the charts (``pn.pane.Plotly``); the news list filters by symbol.
"""

from __future__ import annotations

import html

import panel as pn
import plotly.graph_objects as go
from sqlalchemy.orm import Session

from alphabook.core.errors import NotFound
from alphabook.sentiment import queries
from alphabook.sentiment.schemas import FearGreedOut, NewsPageOut, SentimentOut
from dashboards import context
from dashboards.components.feedback import guarded, notice, problem
from dashboards.components.shell import page as shell

NEWS_SHOWN = 25
ALL = "All symbols"
#: Gauge bands: (upper bound, colour), red fear to green greed, as the labels' bands.
BANDS = ((24, "#cf222e"), (44, "#fb8f44"), (55, "#d4a72c"), (75, "#8ac926"), (100, "#1a7f37"))
POSITIVE, NEGATIVE, NEUTRAL = "#1a7f37", "#cf222e", "#6e7781"
CSS = """
ul.ab-news { list-style: none; padding: 0; margin: 0; }
ul.ab-news li { padding: 6px 0; border-bottom: 1px solid #d8dee4; }
ul.ab-news .meta { color: #57606a; font-size: 0.85em; }
.ab-score { display: inline-block; min-width: 3.6em; text-align: center; border-radius: 10px; color: white;
            font-size: 0.8em; font-weight: 600; padding: 0 6px; margin-right: 6px; }
"""
EMPTY = ("No market mood yet: the news has not been read. An administrator runs `alphabook sentiment refresh`, or "
         "schedules the sentiment-refresh platform job, and this page fills in.")


def gauge(mood: FearGreedOut) -> go.Figure:
    """The index as a gauge from 0 to 100, its bands coloured from fear to greed."""
    steps, lower = [], 0
    for upper, colour in BANDS:
        steps.append({"range": [lower, upper + 1], "color": colour})
        lower = upper + 1
    figure = go.Figure(go.Indicator(
        mode="gauge+number", value=mood.value, title={"text": f"Crypto Fear & Greed · {mood.label}"},
        gauge={"axis": {"range": [0, 100]}, "bar": {"color": "#24292f", "thickness": 0.25}, "steps": steps}))
    figure.update_layout(height=260, margin={"l": 30, "r": 30, "t": 50, "b": 10})
    return figure


def components_chart(mood: FearGreedOut) -> go.Figure:
    """Each component's score (0 fear … 100 greed), labelled with its weight."""
    names = [each.name for each in mood.components]
    figure = go.Figure(go.Bar(x=[each.score for each in mood.components], y=names, orientation="h",
                              text=[f"{each.score:.0f} × {each.weight:.2f}" for each in mood.components],
                              marker_color=[_band_colour(each.score) for each in mood.components]))
    figure.update_layout(title="Components (score × weight)", height=260, xaxis={"range": [0, 100]},
                         margin={"l": 80, "r": 20, "t": 40, "b": 30})
    return figure


def history_chart(mood: FearGreedOut) -> go.Figure:
    figure = go.Figure(go.Scatter(x=[point.computed_at for point in mood.history],
                                  y=[point.value for point in mood.history], mode="lines+markers",
                                  text=[point.label for point in mood.history]))
    figure.update_layout(title="The index at each refresh (UTC)", height=240, yaxis={"range": [0, 100]},
                         xaxis={"tickformat": "%Y-%m-%d %H:%M"},
                         margin={"l": 40, "r": 20, "t": 40, "b": 30})
    return figure


def sentiment_chart(moods: list[SentimentOut]) -> go.Figure:
    """Mean headline score per symbol (-1 … 1), with how many headlines it averages."""
    figure = go.Figure(go.Bar(x=[each.symbol for each in moods], y=[each.score for each in moods],
                              text=[_headlines(each.counts.total) for each in moods],
                              marker_color=[_tone_colour(each.label) for each in moods]))
    figure.update_layout(title="Headline sentiment per symbol", height=260, yaxis={"range": [-1, 1]},
                         margin={"l": 40, "r": 20, "t": 40, "b": 30})
    return figure


def news_list(news: NewsPageOut) -> pn.pane.HTML:
    rows = []
    for item in news.items:
        badge = (f'<span class="ab-score" style="background:{_tone_colour(item.label)}" '
                 f'title="{item.label} ({item.scorer})">{item.score:+.2f}</span>')
        symbols = f" · {', '.join(item.symbols)}" if item.symbols else ""
        rows.append(f'<li class="ab-news-item">{badge}<a href="{html.escape(item.link)}" target="_blank" '
                    f'rel="noopener">{html.escape(item.title)}</a><div class="meta">{html.escape(item.source)} · '
                    f"{item.published_at:%Y-%m-%d %H:%M} UTC{html.escape(symbols)}</div></li>")
    return pn.pane.HTML(f'<ul class="ab-news">{"".join(rows)}</ul>', stylesheets=[CSS], sizing_mode="stretch_width")


def mood_section(session: Session) -> list[pn.viewable.Viewable]:
    try:
        latest = queries.latest_fear_greed(session)
    except NotFound:
        return [notice(EMPTY)]
    mood = FearGreedOut.of(latest, queries.fear_greed_history(session, 90))
    weights = ", ".join(f"{name} {weight:.0%}" for name, weight in mood.weights.items())
    caption = (f"{mood.market}, latest bar {mood.as_of:%Y-%m-%d %H:%M} UTC; computed "
               f"{mood.computed_at:%Y-%m-%d %H:%M} UTC. Weights: {weights} (a missing part's weight is shared out).")
    side_by_side = {"flex": "1 1 360px"}  # two columns on a wide screen, one under the other on a phone
    return [pn.FlexBox(pn.pane.Plotly(gauge(mood), sizing_mode="stretch_width", styles=side_by_side),
                       pn.pane.Plotly(components_chart(mood), sizing_mode="stretch_width", styles=side_by_side),
                       flex_wrap="wrap", sizing_mode="stretch_width"),
            pn.pane.Markdown(html.escape(caption), css_classes=["ab-mood-caption"], sizing_mode="stretch_width"),
            pn.pane.Plotly(history_chart(mood), sizing_mode="stretch_width")]


def sentiment_section(session: Session) -> list[pn.viewable.Viewable]:
    settings = context.settings()
    status = queries.finbert_status(settings)
    moods = [SentimentOut.of(queries.symbol_sentiment(session, settings, symbol), status)
             for symbol in queries.tracked_symbols(settings).symbols]
    shown = [each for each in moods if each.counts.total]
    if not shown:
        return [notice("No headline names a tracked symbol yet.")]
    return [pn.pane.Plotly(sentiment_chart(shown), sizing_mode="stretch_width"),
            pn.pane.Markdown(html.escape(f"Scored with {', '.join(sorted({s for each in shown for s in each.scorers}))}"
                                         f". {status}."), sizing_mode="stretch_width")]


def news_section() -> pn.viewable.Viewable:
    settings = context.settings()
    symbol = pn.widgets.Select(name="News about", options=[ALL, *queries.tracked_symbols(settings).symbols],
                               width=220)
    shown = pn.Column(sizing_mode="stretch_width")

    @guarded(shown)
    def show() -> None:
        chosen = None if symbol.value == ALL else symbol.value
        with context.session() as session:
            page = queries.news_page(session, settings, symbol=chosen, limit=NEWS_SHOWN, offset=0)
            news = NewsPageOut.of(page, limit=NEWS_SHOWN, offset=0, symbol=chosen)
        heading = pn.pane.HTML(f'<h3 class="ab-news-heading" style="font-size:1.1em">Latest news'
                               f"{f' about {chosen}' if chosen else ''} ({news.total})</h3>")
        shown[:] = [heading, news_list(news) if news.items else notice("No news here yet.")]

    symbol.param.watch(lambda _event: show(), "value")
    show()
    return pn.Column(symbol, shown, sizing_mode="stretch_width")


def page() -> pn.template.BaseTemplate:
    intro = pn.pane.Markdown("## Market mood\nA crypto Fear & Greed index computed from our own market data and the "
                             "news, and how the headlines read for each symbol.", sizing_mode="stretch_width")
    try:
        with context.session() as session:
            body = [intro, *mood_section(session), *sentiment_section(session)]
        news = news_section()
    except Exception as error:
        return shell("Market", intro, problem(error), active="market")
    return shell("Market", *body, news, active="market")


def _band_colour(score: float) -> str:
    return next(colour for upper, colour in BANDS if score <= upper + 1)


def _headlines(count: int) -> str:
    return f"{count} headline" if count == 1 else f"{count} headlines"


def _tone_colour(label: str) -> str:
    return {"positive": POSITIVE, "negative": NEGATIVE}.get(label, NEUTRAL)
