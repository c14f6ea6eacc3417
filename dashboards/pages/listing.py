"""A listing's page (``?slug=creator/name``): what it is, a live preview, its verified report, versions, reviews, and
the one next step this viewer can take (log in, buy, install or run).

The preview is :func:`alphabook.marketplace.previews.preview` (the active version in the sandbox on bundled data):
the visitor picks the dataset and the parameters the version's schema allows, and sees only outputs. Buying goes
through :data:`ROUTES`: a plain form POST to ``listing/buy`` starts the purchase and redirects the browser to the
provider's checkout, which a websocket callback cannot do for a page on another site (Stripe). Access itself is
granted only by the provider's webhook; ``checkout`` shows when it arrives.
"""

from __future__ import annotations

import asyncio
import functools
import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import panel as pn
from bokeh.plotting import figure
from sqlalchemy.orm import Session

from alphabook.accounts import service as accounts
from alphabook.core.errors import AlphabookError
from alphabook.marketplace import entitlements, listings, previews, ratings, verified
from alphabook.marketplace.models import Listing, ListingKind
from alphabook.marketplace.notebook_pages import notebook_page
from alphabook.marketplace.params import parse_schema
from alphabook.marketplace.text import render_markdown
from alphabook.payments import purchases
from alphabook.payments.providers import PaymentProvider, build_provider
from alphabook.research.backtest.report import Report
from dashboards import auth, context
from dashboards.components import charts
from dashboards.components.feedback import guarded, notice, off_the_loop, problem, words
from dashboards.components.shell import page as shell

STATS = (("total_return", "Total return", "{:.1%}"), ("cagr", "CAGR", "{:.1%}"), ("sharpe", "Sharpe", "{:.2f}"),
         ("max_drawdown", "Max drawdown", "{:.1%}"), ("win_rate", "Win rate", "{:.0%}"),
         ("num_trades", "Trades", "{:d}"), ("final_equity", "Final equity", "{:,.2f}"))
BUTTON_CSS = """
.ab-action { display: inline-block; padding: 8px 18px; border-radius: 6px; background: #1f6feb; color: white;
             border: none; font-size: 1em; text-decoration: none; cursor: pointer; }
"""


@functools.cache
def provider() -> PaymentProvider:
    """The payment provider the API uses too (one per process)."""
    return build_provider(context.settings())


def parameter_widgets(schema: Sequence[Mapping[str, Any]]) -> dict[str, pn.widgets.Widget]:
    """One widget per parameter of a version's schema, set to its default and bounded by its range."""
    made: dict[str, pn.widgets.Widget] = {}
    for spec in parse_schema(schema):
        label = spec.name.replace("_", " ")
        if spec.type == "bool":
            made[spec.name] = pn.widgets.Checkbox(name=label, value=bool(spec.default))
        elif spec.type == "choice":
            made[spec.name] = pn.widgets.Select(name=label, options=list(spec.choices), value=spec.default)
        else:
            number = int if spec.type == "int" else float
            kind = pn.widgets.IntInput if spec.type == "int" else pn.widgets.FloatInput
            made[spec.name] = kind(name=label, value=number(spec.default),
                                   start=None if spec.minimum is None else number(spec.minimum),
                                   end=None if spec.maximum is None else number(spec.maximum),
                                   description=spec.description or None, width=150)
    return made


def parameter_values(widgets: Mapping[str, pn.widgets.Widget]) -> dict[str, Any]:
    return {name: widget.value for name, widget in widgets.items() if widget.value is not None}


SIGNALS = {"entries": ("triangle", charts.UP, "low"), "exits": ("inverted_triangle", charts.DOWN, "high")}


def output_charts(bars: pd.DataFrame, output: pd.DataFrame, *, title: str) -> list[figure]:
    """Candles with the outputs that live on the price drawn over them and a strategy's entries and exits marked
    under and over the bars; the other outputs (an oscillator) in a panel of their own below, where their scale
    can be read, zooming with the candles."""
    low, high = float(bars["low"].min()), float(bars["high"].max())
    on_price: dict[str, pd.Series] = {}
    apart: dict[str, pd.Series] = {}
    for name in output.columns:
        values = output[name].dropna()
        if str(name) in SIGNALS or values.empty:
            continue
        (on_price if values.between(low, high).mean() >= 0.8 else apart)[str(name)] = values
    candles = charts.candles(bars, on_price, title=title)
    for name, (marker, color, edge) in SIGNALS.items():
        if name in output.columns:
            marked = output[name].fillna(0) > 0.5
            candles.scatter(bars.index[marked], bars[edge][marked].to_numpy(), marker=marker, size=11,
                            color=color, legend_label=name)
    plots = [candles]
    if apart:
        lower = charts.lines(apart, title="Outputs on their own scale", height=200)
        lower.x_range = candles.x_range
        plots.append(lower)
    return plots


def _price(listing: Listing) -> str:
    return "Free" if listing.free else str(listing.price)


def _header(listing: Listing) -> pn.pane.Markdown:
    stars = (f"★ {listing.rating_avg:.1f} from {listing.rating_count} ratings" if listing.rating_count
             else "no ratings yet")
    return pn.pane.Markdown(
        f"# {html.escape(listing.title)}\n\nby **{html.escape(listing.creator.name)}** · {listing.kind} · "
        f"{html.escape(listing.category)} · {listing.licence} licence · **{_price(listing)}** · {stars} · "
        f"{listing.installs + listing.purchases} users")


def _run_link(listing: Listing) -> pn.pane.HTML:
    return pn.pane.HTML(f'<a class="ab-action" href="{context.url("library", slug=listing.slug)}">Run</a> '
                        "<small>It is in your library.</small>", stylesheets=[BUTTON_CSS])


def _action(session: Session, listing: Listing) -> pn.viewable.Viewable:
    """The one next step for this viewer: log in, run what they own, install what is free, or buy."""
    user = context.viewer().user
    verb = "install" if listing.free else "buy"
    if user is None:
        return pn.pane.HTML(f'<a class="ab-action" href="{context.login_url(context.url("listing", slug=listing.slug))}'
                            f'">Log in to {verb}</a>', stylesheets=[BUTTON_CSS])
    if user.id == listing.creator_id:
        return notice("This is your listing: its versions, checks and sales are on the Creator page.",
                      action=("Creator", context.url("creator")))
    if entitlements.active_entitlement(session, user.id, listing.id) is not None:
        return _run_link(listing)
    if listing.free:
        return _install_button(listing.slug)
    return pn.pane.HTML(
        f'<form method="post" action="{context.url("listing/buy")}"><input type="hidden" name="slug" '
        f'value="{html.escape(listing.slug)}"><button class="ab-action" type="submit">Buy for '
        f"{html.escape(_price(listing))}</button></form>", stylesheets=[BUTTON_CSS])


def _install_button(slug: str) -> pn.Column:
    area = pn.Column(sizing_mode="stretch_width")
    button = pn.widgets.Button(name="Install (free)", button_type="primary", width=160)

    @guarded(area)
    def install(_event: object) -> None:
        user = context.viewer().user
        assert user is not None
        with context.session() as session:
            listing = listings.get_listing(session, slug)
            entitlements.install(session, user, listing)
            area[:] = [_run_link(listing)]

    button.on_click(install)
    area.append(button)
    return area


def _preview_section(listing: Listing) -> pn.Column:
    """The chart with its controls; the first run waits until the page has loaded, so the page shows at once."""
    slug = listing.slug
    version = previews.previewable_version(listing)
    datasets = {dataset.label: dataset for dataset in previews.bundled_datasets()}
    dataset = pn.widgets.Select(name="Data", options=datasets, value=previews.DEFAULT_DATASET, width=220)
    widgets = parameter_widgets(version.parameter_schema)
    update = pn.widgets.Button(name="Update preview", button_type="primary", width=150)
    chart = pn.Column(sizing_mode="stretch_width", min_height=380)
    note = pn.pane.Markdown("", styles={"color": "#57606a"})

    def compute(chosen: previews.Dataset, params: dict[str, Any]) -> tuple[previews.Preview, Report | None]:
        with context.session() as session:
            current = listings.get_listing(session, slug)
            previews.previewable_version(current)  # loads the versions, so the sandbox runs after the session
        shown = previews.preview(current, chosen, params)
        return shown, previews.preview_backtest(shown)

    @guarded(chart)
    async def draw(_event: object = None) -> None:
        chosen, params = dataset.value, parameter_values(widgets)
        shown, report = await off_the_loop(lambda: compute(chosen, params))
        plots = output_charts(shown.bars, shown.output, title=f"{listing.title} on {shown.dataset.label}")
        chart[:] = [*(pn.pane.Bokeh(plot, sizing_mode="stretch_width") for plot in plots),
                    *_preview_backtest(report)]
        settings = ", ".join(f"{name}={value}" for name, value in shown.params.items()) or "no parameters"
        note.object = (f"Version {shown.version} run in the sandbox on the last {len(shown.bars)} bars of "
                       f"{shown.dataset.label} ({settings}). Only the outputs are shown, never the code.")

    update.on_click(draw)
    dataset.param.watch(draw, "value")
    pn.state.onload(draw)
    controls = pn.FlexBox(dataset, *widgets.values(), pn.Column(update, margin=(24, 5, 5, 5)),
                          sizing_mode="stretch_width")
    return pn.Column("## Preview", controls, chart, note, sizing_mode="stretch_width")


def _preview_backtest(report: Report | None) -> list[pn.viewable.Viewable]:
    """For a strategy, what its signals in the preview would have made: equity and drawdown over the same bars."""
    if report is None:
        return []
    return [pn.pane.Bokeh(charts.lines({"equity": report.equity}, title="Backtest of this preview", y_label="equity"),
                          sizing_mode="stretch_width"),
            pn.pane.Bokeh(charts.drawdown(report.equity), sizing_mode="stretch_width"),
            pn.pane.Markdown(f"Backtest of this preview: total return {report.total_return:.1%}, max drawdown "
                             f"{report.max_drawdown:.1%}, {report.num_trades} trades, Sharpe {report.sharpe:.2f}. "
                             "It is one try on a few hundred bars; the verified report below accounts for every try.",
                             styles={"color": "#57606a"})]


def _report(listing: Listing) -> pn.viewable.Viewable:
    """The stored backtest of the active version: key stats, trials and the deflated Sharpe that weighs them."""
    version = listing.active_version
    backtest = version.report.get("backtest") if version is not None else None
    if not backtest:
        return notice("No verified backtest yet: it is produced by the nightly verified run."
                      if listing.kind == ListingKind.STRATEGY else
                      "Indicators have no backtest of their own; strategies built on them do.")
    rows = [f"| {label} | {fmt.format(backtest[key])} |" for key, label, fmt in STATS
            if isinstance(backtest.get(key), int | float)]
    deflated = backtest.get("deflated_sharpe") or {}
    probability = deflated.get("probability")
    rows.append(f"| Trials the creator ran | {backtest.get('trials', 1)} |")
    rows.append("| Deflated Sharpe (probability the edge is real) | "
                f"{'—' if probability is None else f'{probability:.0%}'} |")
    return pn.pane.Markdown(
        f"Backtest of version {version.version if version else ''} on {backtest.get('bars', '?')} bars "
        f"({str(backtest.get('start', ''))[:10]} to {str(backtest.get('end', ''))[:10]}, UTC).\n\n"
        "| Measure | Value |\n|---|---|\n" + "\n".join(rows) + f"\n\n*{deflated.get('verdict', '')}*")


def _verified_badge(session: Session, listing: Listing) -> pn.viewable.Viewable:
    """The signed record of the platform's own re-run (:mod:`alphabook.marketplace.verified`), and how to check it."""
    record = verified.latest(session, listing)
    if record is None:
        return notice("Not verified yet: alphabook re-runs every approved listing nightly on a pinned dataset and "
                      "signs what it finds.")
    valid = verified.signature_valid(record, context.settings())
    mark = ('<span style="color:#1a7f37;font-weight:600">✔ Verified</span>' if valid else
            '<span style="color:#cf222e;font-weight:600">✗ Signature does not match</span>')
    api = f"{context.settings().base_url}/services/api/api/listings/{listing.slug}/verified"
    return pn.pane.HTML(
        f"<p>{mark} on {record.created_at:%Y-%m-%d %H:%M} UTC: version {html.escape(record.version)} re-run by "
        f"alphabook on {html.escape(record.dataset)} with its default parameters.<br>"
        f"<small>data sha256 <code>{record.data_sha256[:16]}…</code> · code sha256 <code>{record.code_sha256[:16]}…"
        f"</code> · output sha256 <code>{record.report.get('output_sha256', '')[:16]}…</code><br>The signed record: "
        f'<a href="{html.escape(api)}">{html.escape(api)}</a>; re-run it yourself with '
        f"<code>POST …/verified/recheck</code>.</small></p>", sizing_mode="stretch_width")


def _versions(listing: Listing) -> pn.pane.Markdown:
    lines = [f"- **{version.version}**{' (current)' if version.active else ''}"
             f"{' · breaking' if version.breaking else ''} · {version.created_at:%Y-%m-%d} UTC — "
             f"{html.escape(version.changelog or 'no notes')}"
             for version in reversed(listing.versions) if version.status == "approved"]
    return pn.pane.Markdown("\n".join(lines) or "No released versions yet.")


def _reviews(session: Session, listing: Listing) -> pn.viewable.Viewable:
    found = ratings.ratings_of(session, listing, limit=20)
    if not found:
        return notice("No reviews yet. People who own it can rate it from their library.")
    return pn.pane.Markdown("\n\n".join(
        f"**{'★' * rating.stars}{'☆' * (5 - rating.stars)}** by {html.escape(rating.user.name)} · "
        f"{rating.updated_at:%Y-%m-%d}\n\n{html.escape(rating.comment)}" for rating in found))


def _notebook_preview(listing: Listing) -> pn.viewable.Viewable:
    """A notebook is previewed as itself: a page the Voila service runs in the sandbox, outputs only."""
    if listing.status != "approved":
        return notice("The live preview opens once this notebook is approved.")
    address = notebook_page(context.settings(), listing)
    return pn.Column(pn.pane.Markdown("## Preview"), notice(
        "Run this notebook live: it opens as a page, computed for you in the sandbox; you see its outputs, "
        "never its code.", action=("Open the live preview", address)), sizing_mode="stretch_width")


def _body(session: Session, slug: str) -> list[pn.viewable.Viewable]:
    listing = listings.get_listing(session, slug)
    if not listings.visible_to(listing, context.viewer().user):
        return [notice(f"There is no listing {slug}.", action=("Back to the marketplace", context.url("explore")))]
    sections: list[pn.viewable.Viewable] = [_header(listing), _action(session, listing),
                                            pn.pane.HTML(render_markdown(listing.description),
                                                         sizing_mode="stretch_width")]
    if listing.kind == ListingKind.NOTEBOOK and listing.active_version is not None:
        sections.append(_notebook_preview(listing))
    elif listing.active_version is not None:
        sections.append(_preview_section(listing))
    sections += [pn.pane.Markdown("## Verified backtest"), _verified_badge(session, listing), _report(listing),
                 pn.pane.Markdown("## Versions and changelog"), _versions(listing),
                 pn.pane.Markdown("## Reviews"), _reviews(session, listing)]
    return sections


def page() -> pn.template.BaseTemplate:
    slug = (pn.state.session_args.get("slug") or [b""])[0].decode()
    context.viewer()  # before the session below: resolving a viewer writes, and SQLite has one writer at a time
    try:
        with context.session() as session:
            body = _body(session, slug) if slug else [notice("Which listing? Open one from Explore.",
                                                             action=("Explore", context.url("explore")))]
    except AlphabookError as error:
        body = [problem(error)]
    return shell("Listing", *body, active="explore")


class BuyHandler(auth.PlainHandler):
    """Start a purchase for the signed-in person and send the browser to the provider's checkout page."""

    async def post(self) -> None:
        slug = self.get_body_argument("slug", "")
        back = context.url("listing", slug=slug)
        token = self.get_cookie(context.identity().cookie_name)
        hub_user = await context.identity().user_for_token(token) if token else None
        if hub_user is None:
            self.redirect(context.login_url(back))
            return
        try:
            checkout = await asyncio.to_thread(self._start, hub_user.name, hub_user.roles, slug, back)
        except AlphabookError as error:
            self.set_status(error.status)
            self.finish(f"<!doctype html><title>alphabook</title><p>{html.escape(words(error))}</p>"
                        f'<p><a href="{back}">Back to the listing</a></p>')
            return
        self.redirect(checkout)

    def _start(self, name: str, roles: list[str], slug: str, back: str) -> str:
        base = context.settings().base_url
        with context.session() as session:
            buyer = accounts.ensure_user(session, name, roles=roles)
            purchase = purchases.start_purchase(
                session, provider(), context.settings(), buyer, listings.get_listing(session, slug),
                idempotency_key=None, success_url=base + context.url("checkout") + "?checkout={CHECKOUT_SESSION_ID}",
                cancel_url=base + back)
            return purchase.checkout_url or base + context.url("checkout", purchase=purchase.id)


ROUTES = [("/listing/buy", BuyHandler)]
