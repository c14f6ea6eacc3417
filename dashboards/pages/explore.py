"""Explore: search and filter the marketplace, one page of cards at a time.

The search is :func:`alphabook.marketplace.search.search` (full-text, keyset pages); this page only turns widgets
into a :class:`~alphabook.marketplace.search.SearchQuery` and listings into cards. "More" follows the page's cursor.
A card's sparkline is the preview the automated checks stored (run in the sandbox when the version was checked),
so a page of cards costs no sandbox call; the live, adjustable preview is on the listing's page.
"""

from __future__ import annotations

import html
import logging

import panel as pn

from alphabook.core.money import Money
from alphabook.marketplace.models import Listing, ListingKind
from alphabook.marketplace.previews import stored_sparkline
from alphabook.marketplace.search import SearchQuery, search
from dashboards import context
from dashboards.components import charts
from dashboards.components.feedback import guarded, notice
from dashboards.components.shell import page as shell

log = logging.getLogger("dashboards")
PAGE_SIZE = 12
SPARK_HEIGHT = 36
SORTS = {"Best match": "relevance", "Most popular": "popular", "Best rated": "rating", "Newest": "newest",
         "Price: low to high": "price", "Price: high to low": "price_desc"}
PRICES = {"Any price": "", "Free": "free", "Paid": "paid"}
ANY = ""
CARD_CSS = """
.ab-card { padding: 8px 10px 0 10px; height: 92px; overflow: hidden; }
.ab-card .tag { background: #eef2f7; border-radius: 4px; padding: 0 4px; margin-right: 3px; font-size: 0.8em; }
"""


def _sparkline(listing: Listing) -> pn.viewable.Viewable:
    """The shape of the listing's stored preview, or an empty line: a card never fails over its picture."""
    try:
        line = stored_sparkline(listing)
    except (ValueError, TypeError, KeyError):
        log.warning("listing %s has a stored preview that cannot be drawn", listing.slug, exc_info=True)
        line = None
    if line is None:
        return pn.Spacer(height=SPARK_HEIGHT)
    return pn.pane.Bokeh(charts.sparkline(line, width=268, height=SPARK_HEIGHT), height=SPARK_HEIGHT,
                         sizing_mode="fixed", margin=(0, 10, 6, 10))


def card(listing: Listing) -> pn.Column:
    price = "Free" if listing.price_minor == 0 else str(Money(listing.price_minor, listing.currency))
    stars = f"★ {listing.rating_avg:.1f} ({listing.rating_count})" if listing.rating_count else "no ratings yet"
    tags = " ".join(f'<span class="tag">{html.escape(tag)}</span>' for tag in listing.tags[:4])
    text = pn.pane.HTML(
        f'<div class="ab-card"><a class="ab-listing" href="{context.url("listing", slug=listing.slug)}">'
        f"<b>{html.escape(listing.title)}</b></a><br><small>by {html.escape(listing.creator.name)} · "
        f"{html.escape(listing.kind)} · {html.escape(listing.category)}</small><br>"
        f"<b>{price}</b> · {stars} · {listing.installs} installs<br>{tags}</div>",
        width=290, height=96, sizing_mode="fixed", stylesheets=[CARD_CSS], margin=0)
    return pn.Column(text, _sparkline(listing), width=290, height=140, sizing_mode="fixed", margin=5,
                     styles={"border": "1px solid #d0d7de", "border-radius": "8px", "background": "white"})


def _minor(major: int | None) -> int | None:
    return Money.of(str(major), context.settings().marketplace_currency).amount_minor if major else None


def page() -> pn.template.BaseTemplate:
    text = pn.widgets.TextInput(name="Search", placeholder="RSI, momentum, volatility…")
    kind = pn.widgets.Select(name="Kind", options={"Any kind": ANY, **{k.value.title(): k.value for k in ListingKind}})
    category = pn.widgets.TextInput(name="Category", placeholder="e.g. momentum")
    price = pn.widgets.Select(name="Price", options=PRICES)
    max_price = pn.widgets.IntInput(name=f"Max price ({context.settings().marketplace_currency})", value=None, start=0)
    rating = pn.widgets.Select(name="Rating", options={"Any rating": ANY, "4★ and up": "4", "3★ and up": "3"})
    tags = pn.widgets.TextInput(name="Tags", placeholder="comma separated")
    sort = pn.widgets.Select(name="Sort", options=SORTS)
    go = pn.widgets.Button(name="Search", button_type="primary")
    more = pn.widgets.Button(name="More results", visible=False)
    results = pn.FlexBox(sizing_mode="stretch_width")
    status = pn.Column(sizing_mode="stretch_width")
    cursor: dict[str, str | None] = {"next": None}

    def query(after: str | None) -> SearchQuery:
        return SearchQuery(text=(text.value or "").strip(), kind=kind.value or None,
                           category=(category.value or "").strip() or None,
                           free={"free": True, "paid": False}.get(price.value), max_price_minor=_minor(max_price.value),
                           min_rating=float(rating.value) if rating.value else None, sort=sort.value, cursor=after,
                           limit=PAGE_SIZE,
                           tags=tuple(tag.strip() for tag in (tags.value or "").split(",") if tag.strip()))

    @guarded(status, busy=results)
    def run(append: bool) -> None:
        with context.session() as session:
            found = search(session, query(cursor["next"] if append else None))
            cards = [card(listing) for listing in found.items]
        status[:] = []
        results[:] = [*(results.objects if append else []), *cards]
        cursor["next"] = found.next_cursor
        more.visible = found.next_cursor is not None
        if not results.objects:
            status[:] = [notice("Nothing matches. Try fewer words or filters, or browse everything by clearing "
                                "the search.")]

    go.on_click(lambda _event: run(False))
    text.param.watch(lambda _event: run(False), "enter_pressed")
    more.on_click(lambda _event: run(True))
    run(False)
    search_row = pn.Row(text, pn.Column(go, width=120, margin=(24, 5, 5, 5)), sizing_mode="stretch_width")
    return shell("Explore", pn.pane.Markdown("## Indicators and strategies"), search_row, status, results, more,
                 active="explore", sidebar=[kind, category, price, max_price, rating, tags, sort])
