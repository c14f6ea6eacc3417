"""Creator: my listings and where each stands in review, new listings and versions (checked at once, findings by
line), submitting for review, my sales and earnings over time, my balance and payouts, and the ratings I received.

Every action calls the service the API route calls (:mod:`alphabook.marketplace.listings`, ``stats``, ``ratings``,
:mod:`alphabook.payments.payouts`), so the rules, the checks and the audit log are the same whichever door a
creator uses; this page only turns widgets into arguments and results into words, tables and charts.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import pandas as pd
import panel as pn

from alphabook.accounts.models import Role, User
from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money
from alphabook.marketplace import listings, ratings, stats
from alphabook.marketplace.models import Licence, Listing, ListingKind, ListingStatus
from alphabook.payments import payouts
from alphabook.payments.providers import build_provider
from dashboards import context
from dashboards.components import charts, reports
from dashboards.components.feedback import guarded, notice, off_the_loop
from dashboards.components.shell import private

SAMPLE_CODE = "def indicator(df, length=20):\n    return df['close'].rolling(length).mean()\n"
SAMPLE_SCHEMA = '[{"name": "length", "type": "int", "default": 20, "minimum": 2, "maximum": 500}]'
STATES = {ListingStatus.PENDING: "pending review"}
LICENCES = {"Protected: the code never leaves the server": Licence.PROTECTED.value,
            "Open: buyers may read the code": Licence.OPEN.value}
MONOSPACE = [":host textarea { font-family: ui-monospace, monospace; font-size: 0.85em; }"]


def page() -> pn.template.BaseTemplate:
    return private("Creator", "creator", Role.CREATOR, _build)


def _me() -> User:
    user = context.viewer().user
    assert user is not None, "private() builds this page for signed-in creators only"
    return user


def _required(widget: pn.widgets.TextInput) -> str:
    value = (widget.value or "").strip()
    if not value:
        raise InvalidInput(f"{widget.name} is required.")
    return value


def _price(text: str, currency: str) -> Money:
    try:
        return Money.of(text.strip() or "0", currency)
    except ValueError as error:
        raise InvalidInput(f"Price: {error}.") from None


def _schema(text: str) -> list[dict[str, Any]]:
    """The parameter schema typed as JSON: a list of objects, one per parameter of ``indicator(df, ...)``."""
    try:
        parsed = json.loads(text.strip() or "[]")
    except json.JSONDecodeError as error:
        raise InvalidInput(f"The parameter schema is not valid JSON: {error.msg} (line {error.lineno}, column "
                           f"{error.colno}).") from None
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        raise InvalidInput(f"The parameter schema is a JSON list of parameters, e.g. {SAMPLE_SCHEMA}")
    return parsed


def _state(listing: Listing) -> str:
    state = STATES.get(ListingStatus(listing.status), listing.status)
    return f"{state}: {listing.status_reason}" if listing.status_reason else state


def _row(listing: Listing) -> dict[str, object]:
    latest, live = (listing.versions[-1] if listing.versions else None), listing.active_version
    return {"Listing": listing.slug, "Title": listing.title, "State": _state(listing),
            "Latest version": f"{latest.version} ({latest.status})" if latest else "none yet",
            "Live version": live.version if live else "", "Price": "Free" if listing.free else str(listing.price),
            "Updated": reports.when(listing.updated_at)}


def _versions(listing: Listing) -> list[pn.viewable.Viewable]:
    if not listing.versions:
        return [notice(f"{listing.slug} has no version yet: add one above, it is checked at once.")]
    shown: list[pn.viewable.Viewable] = []
    for version in reversed(listing.versions):
        review = f" — review: {escape(version.review_reason)}" if version.review_reason else ""
        shown.append(pn.pane.Markdown(f"**{version.version}** · {version.status} · {reports.when(version.created_at)}"
                                      f"{review}<br>{escape(version.changelog)}", sizing_mode="stretch_width"))
        shown += [reports.checks(version), reports.code(version)]
    return shown


class _MyListings:
    """The listings table, the chosen listing and its versions; refreshed after every change."""

    def __init__(self, me: User) -> None:
        self.me = me
        self.known: dict[str, Listing] = {}
        self.overview = pn.Column(sizing_mode="stretch_width")
        self.chosen = pn.widgets.Select(name="Listing", options=[])
        self.versions = pn.Column(sizing_mode="stretch_width")
        self.chosen.param.watch(lambda event: self.show(event.new), "value")

    def refresh(self, select: str | None = None) -> None:
        with context.session() as session:
            self.known = {listing.slug: listing for listing in listings.of_creator(session, self.me)}
        rows = [_row(listing) for listing in self.known.values()]
        self.overview[:] = [reports.table(rows)] if rows else [
            notice("You have no listings yet: create your first one below.")]
        self.chosen.options = list(self.known)
        kept = self.chosen.value if self.chosen.value in self.known else next(iter(self.known), None)
        self.chosen.value = select if select is not None else kept
        self.show(self.chosen.value)

    def show(self, slug: str | None) -> None:
        listing = self.known.get(slug or "")
        self.versions[:] = _versions(listing) if listing else [notice("Create a listing to add versions to it.")]

    def selected(self) -> str:
        if not self.chosen.value:
            raise InvalidInput("Choose a listing first (or create one).")
        return str(self.chosen.value)


def _create_form(mine: _MyListings, currency: str) -> pn.viewable.Viewable:
    name = pn.widgets.TextInput(name="Name", placeholder="rsi-divergence (your listing becomes you/name)")
    kind = pn.widgets.Select(name="Kind", options=[each.value for each in ListingKind])
    title = pn.widgets.TextInput(name="Title", placeholder="RSI divergence")
    category = pn.widgets.TextInput(name="Category", placeholder="momentum")
    tags = pn.widgets.TextInput(name="Tags", placeholder="comma separated")
    price = pn.widgets.TextInput(name=f"Price ({currency}, 0 for free)", value="0")
    licence = pn.widgets.Select(name="Licence", options=LICENCES)
    description = pn.widgets.TextAreaInput(name="Description (Markdown)", rows=3)
    create = pn.widgets.Button(name="Create listing", button_type="primary", width=180)
    said = pn.Column(sizing_mode="stretch_width")

    @guarded(said, busy=create)
    def run(_event: object) -> None:
        with context.session() as session:
            slug = listings.create_listing(
                session, mine.me, name=_required(name), kind=kind.value, title=_required(title),
                description=description.value or "", category=_required(category),
                tags=[tag.strip() for tag in (tags.value or "").split(",") if tag.strip()],
                price=_price(price.value or "", currency), licence=licence.value).slug
        said[:] = [notice(f"Created {slug} as a draft: add its first version below, then submit it.",
                          kind="success")]
        mine.refresh(select=slug)

    create.on_click(run)
    return pn.Column(pn.pane.Markdown("### Create a listing"),
                     pn.FlexBox(*(pn.Column(widget, width=280) for widget in (name, kind, title, category, tags,
                                                                               price, licence))),
                     description, create, said, sizing_mode="stretch_width")


def _version_form(mine: _MyListings) -> pn.viewable.Viewable:
    version = pn.widgets.TextInput(name="Version", placeholder="1.0.0")
    changelog = pn.widgets.TextInput(name="Changelog", placeholder="What changed")
    breaking = pn.widgets.Checkbox(name="Breaking change (needs a new major version)")
    trials = pn.widgets.IntInput(name="Configurations tried (for the deflated Sharpe ratio)", value=1, start=1)
    code = pn.widgets.TextAreaInput(name="Code", placeholder=SAMPLE_CODE, rows=10, stylesheets=MONOSPACE)
    schema = pn.widgets.TextAreaInput(name="Parameter schema (JSON)", value="[]", placeholder=SAMPLE_SCHEMA, rows=3,
                                      stylesheets=MONOSPACE)
    check = pn.widgets.Button(name="Add version and run checks", button_type="primary", width=240)
    submit = pn.widgets.Button(name="Submit for review", button_type="success", width=180)
    said = pn.Column(sizing_mode="stretch_width")

    def checked(slug: str, fields: dict[str, Any]) -> tuple[bool, str]:
        """Add the version (its automated checks run the code in the sandbox) and say how they went."""
        with context.session() as session:
            added = listings.add_version(session, mine.me, listings.get_listing(session, slug), **fields)
            return bool(added.report["ok"]), added.version

    @guarded(said, busy=check)
    async def add(_event: object) -> None:
        slug = mine.selected()
        fields = {"version": _required(version), "code": code.value or "",
                  "parameter_schema": _schema(schema.value or ""), "changelog": changelog.value or "",
                  "breaking": breaking.value, "trials": trials.value or 1}
        passed, number = await off_the_loop(lambda: checked(slug, fields))
        said[:] = [notice(f"{number}: all checks passed. Submit it for review." if passed else
                          f"{number}: some checks failed (see below). Fix the code and add it as a new version.",
                          kind="success" if passed else "warning")]
        mine.refresh(select=slug)

    @guarded(said, busy=submit)
    def send(_event: object) -> None:
        slug = mine.selected()
        with context.session() as session:
            number = listings.submit(session, mine.me, listings.get_listing(session, slug)).version
        said[:] = [notice(f"{number} of {slug} is pending review: an administrator approves or rejects it, with a "
                          "reason you will see here.", kind="success")]
        mine.refresh(select=slug)

    check.on_click(add)
    submit.on_click(send)
    return pn.Column(pn.pane.Markdown("### Versions and their checks"), mine.chosen,
                     pn.Row(version, changelog, trials, sizing_mode="stretch_width"), breaking, code, schema,
                     pn.Row(check, submit), said, mine.versions, sizing_mode="stretch_width")


def _earnings(me: User, currency: str) -> list[pn.viewable.Viewable]:
    with context.session() as session:
        figures = stats.creator_stats(session, me, currency)
        days = stats.earnings_by_day(session, me, currency)

    def money(minor: int) -> str:
        return str(Money(minor, currency))

    shown: list[pn.viewable.Viewable] = [pn.pane.Markdown(
        f"**Available** {money(figures['available_minor'])} · **held by disputes** {money(figures['held_minor'])}"
        f" · **paid out** {money(figures['paid_out_minor'])} · **net revenue** {money(figures['revenue_minor'])}")]
    if not days:
        return [*shown, notice("No sales yet: earnings appear here once someone buys one of your listings.")]
    index = pd.DatetimeIndex([pd.Timestamp(each.day, tz="UTC") for each in days])
    # Bokeh plots floats: the exact minor units become major units for drawing only.
    earned = pd.Series([float(Money(each.net_minor, currency).to_decimal()) for each in days], index=index).cumsum()
    sold = pd.Series([each.sales for each in days], index=index).cumsum()
    per_listing = [{"Listing": row["slug"], "Installs": row["installs"], "Purchases": row["purchases"],
                    "Rating": f"{row['rating_avg']:.1f} ({row['rating_count']})", "Net revenue":
                    money(row["revenue_minor"])} for row in figures["listings"]]
    return [*shown, pn.Row(pn.pane.Bokeh(charts.lines({"Net earnings": earned}, title="Net earnings (cumulative)",
                                                      y_label=currency)),
                           pn.pane.Bokeh(charts.lines({"Sales": sold}, title="Sales (cumulative)",
                                                      y_label="purchases")), sizing_mode="stretch_width"),
            reports.table(per_listing)]


def _payouts(me: User, currency: str, earnings: pn.Column) -> pn.viewable.Viewable:
    """The payout account, payout requests and their history; ``earnings`` is redrawn with them, as a payout
    moves the available balance shown there."""
    settings = context.settings()
    connect = pn.widgets.Button(name="Connect payout account", width=220)
    request = pn.widgets.Button(name="Request payout", button_type="primary", width=180)
    account_line, history, said = pn.Column(), pn.Column(sizing_mode="stretch_width"), pn.Column()

    def refresh() -> None:
        with context.session() as session:
            account = payouts.payout_account(session, me.id)
            rows = [{"Payout": each.id, "Amount": str(each.amount), "Status": each.status,
                     "Requested": reports.when(each.requested_at), "Settled": reports.when(each.settled_at),
                     "Why it failed": each.failure or ""} for each in payouts.history(session, me.id)]
        connect.visible, request.disabled = account is None, account is None
        account_line[:] = [pn.pane.Markdown(
            f"Payouts go to **{account.provider}** account `{account.account_ref}`; they start at "
            f"{Money(settings.payout_minimum_minor, currency)}." if account else
            "Connect a payout account to be paid.")]
        history[:] = [reports.table(rows)] if rows else [notice("No payouts yet.")]
        earnings[:] = _earnings(me, currency)

    @guarded(said, busy=connect)
    def link(_event: object) -> None:
        with context.session() as session:
            _, onboarding = payouts.connect_account(session, build_provider(settings), me)
        said[:] = [notice("Payout account connected.", kind="success",
                          action=("Finish onboarding", onboarding) if onboarding else None)]
        refresh()

    @guarded(said, busy=request)
    def ask(_event: object) -> None:
        with context.session() as session:
            payout = payouts.pay(session, build_provider(settings),
                                 payouts.queue_payout(session, settings, me, actor=me.name), actor=me.name)
            outcome = f"Payout {payout.id} of {payout.amount}: {payout.status}" + (
                f" ({payout.failure}); the amount is back in your balance." if payout.failure else ".")
        said[:] = [notice(outcome, kind="warning" if payout.failure else "success")]
        refresh()

    connect.on_click(link)
    request.on_click(ask)
    guarded(said)(refresh)()
    return pn.Column(account_line, pn.Row(connect, request), said, history, sizing_mode="stretch_width")


def _ratings(me: User) -> list[pn.viewable.Viewable]:
    with context.session() as session:
        rows = [{"Listing": listing.slug, "Stars": "★" * rating.stars + "☆" * (5 - rating.stars),
                 "Comment": rating.comment, "By": rating.user.name, "When": reports.when(rating.updated_at)}
                for rating, listing in ratings.received(session, me)]
    return [reports.table(rows)] if rows else [notice("No ratings yet: buyers rate what they bought or installed.")]


def _build() -> pn.viewable.Viewable:
    me, currency = _me(), context.settings().marketplace_currency
    mine = _MyListings(me)
    guarded(mine.overview)(mine.refresh)()
    earnings, received = pn.Column(sizing_mode="stretch_width"), pn.Column(sizing_mode="stretch_width")

    def fill_ratings() -> None:
        received[:] = _ratings(me)

    guarded(received)(fill_ratings)()
    return pn.Column(
        pn.pane.Markdown("## My listings"), mine.overview, _create_form(mine, currency), _version_form(mine),
        pn.pane.Markdown("## Sales and earnings"), earnings,
        pn.pane.Markdown("## Payouts"), _payouts(me, currency, earnings),
        pn.pane.Markdown("## Ratings received"), received, sizing_mode="stretch_width")
