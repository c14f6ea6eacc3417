"""My library: what I own, how to use it in a notebook, and running it on my own data or a bundled dataset.

Each entitlement shows the version it is pinned to and the one-line snippet for notebooks. "Run" goes through
:func:`alphabook.marketplace.running.run_listing`, the same verb as the API: the entitlement is checked, the
parameters are checked against the pinned version's schema, and the code runs in the sandbox; only its output
comes back to be drawn. An uploaded CSV is read with the research data convention (a time column and
open/high/low/close/volume) and never stored.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from typing import Any

import pandas as pd
import panel as pn
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from alphabook.accounts.models import Role
from alphabook.core.errors import InvalidInput
from alphabook.marketplace import listings, previews, ratings
from alphabook.marketplace.models import Entitlement, Listing, ListingKind
from alphabook.marketplace.running import run_listing
from dashboards import context
from dashboards.components.feedback import guarded, notice, off_the_loop
from dashboards.components.shell import private
from dashboards.pages.listing import output_charts, parameter_values, parameter_widgets

MAX_BARS = 5000  # enough history to read a chart; more only slows the sandbox and the browser
UPLOAD = "My CSV file"
CARD_CSS = ".ab-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 12px; background: white; }"


@dataclass(frozen=True, slots=True)
class Owned:
    slug: str
    title: str
    kind: str
    version: str
    source: str
    granted: str
    schema: list[dict[str, object]]


def _owned(user_id: int) -> list[Owned]:
    query = (select(Entitlement).where(Entitlement.user_id == user_id, Entitlement.revoked_at.is_(None))
             .options(selectinload(Entitlement.listing).selectinload(Listing.versions),
                      selectinload(Entitlement.version)).order_by(Entitlement.granted_at.desc()))
    with context.session() as session:
        return [Owned(slug=each.listing.slug, title=each.listing.title, kind=each.listing.kind,
                      version=each.version.version, source=each.source, granted=f"{each.granted_at:%Y-%m-%d}",
                      schema=list(each.version.parameter_schema)) for each in session.scalars(query)]


def _card(owned: Owned) -> pn.pane.HTML:
    how = "bought" if owned.source == "purchase" else "installed"
    return pn.pane.HTML(
        f'<div class="ab-card"><a href="{context.url("listing", slug=owned.slug)}"><b>{html.escape(owned.title)}'
        f"</b></a> <small>{html.escape(owned.slug)} · version {html.escape(owned.version)} · {owned.kind} · "
        f"{how} {owned.granted} UTC</small><br>In a notebook: <code>import alphabook as ab; "
        f'ab.use("{html.escape(owned.slug)}")</code></div>', sizing_mode="stretch_width", stylesheets=[CARD_CSS])


def read_csv(content: bytes) -> pd.DataFrame:
    """Bars from an uploaded CSV, in the research convention; InvalidInput says what the file lacks."""
    from alphabook.research.data import to_ohlcv

    try:
        frame = pd.read_csv(io.BytesIO(content))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"That file is not a CSV table: {exc}") from None
    return to_ohlcv(frame)


def _runner(owned: list[Owned], chosen: str) -> pn.Column:
    """Pick what to run, on which data, with which parameters; the chart appears below."""
    runnable = {f"{each.title} ({each.slug})": each for each in owned if each.kind != ListingKind.NOTEBOOK}
    if not runnable:
        return pn.Column(notice("Notebooks open in the sandboxed kernel; indicators and strategies run here."))
    first = next((each for each in runnable.values() if each.slug == chosen), next(iter(runnable.values())))
    which = pn.widgets.Select(name="Run", options=runnable, value=first, width=260)
    data = pn.widgets.Select(name="On", options={**{each.label: each for each in previews.bundled_datasets()},
                                                 UPLOAD: None}, value=previews.DEFAULT_DATASET, width=220)
    upload = pn.widgets.FileInput(accept=".csv", visible=False, multiple=False)
    hint = pn.pane.Markdown("A CSV with a `time` column (UTC) and `open, high, low, close, volume`.", visible=False)
    widgets: dict[str, pn.widgets.Widget] = {}
    parameters = pn.FlexBox(sizing_mode="stretch_width")
    go = pn.widgets.Button(name="Run", button_type="primary", width=120)
    chart = pn.Column(sizing_mode="stretch_width", min_height=100)

    def show_parameters(_event: object = None) -> None:
        widgets.clear()
        widgets.update(parameter_widgets(which.value.schema))
        parameters[:] = list(widgets.values())

    def show_upload(_event: object = None) -> None:
        upload.visible = hint.visible = data.value is None

    def bars() -> tuple[pd.DataFrame, str]:
        if data.value is not None:
            return previews.load_bars(data.value).iloc[-MAX_BARS:], data.value.label
        if not upload.value:
            raise InvalidInput("Choose a CSV file first, or pick a bundled dataset.")
        return read_csv(upload.value).iloc[-MAX_BARS:], upload.filename or "your file"

    def compute(frame: pd.DataFrame, slug: str, params: dict[str, Any]) -> tuple[str, pd.DataFrame]:
        user = context.viewer().user
        assert user is not None
        with context.session() as session:
            version, output = run_listing(session, user, listings.get_listing(session, slug), frame, params)
            return version.version, output

    @guarded(chart)
    async def run(_event: object) -> None:
        frame, label = bars()
        slug, params = which.value.slug, parameter_values(widgets)
        version, output = await off_the_loop(lambda: compute(frame, slug, params))
        title = f"{which.value.title} {version} on {label}"
        chart[:] = [*(pn.pane.Bokeh(plot, sizing_mode="stretch_width") for plot in output_charts(frame, output,
                                                                                                title=title)),
                    pn.pane.Markdown(f"{title}: {len(frame)} bars from {frame.index[0]:%Y-%m-%d %H:%M} to "
                                     f"{frame.index[-1]:%Y-%m-%d %H:%M} UTC, run in the sandbox.",
                                     styles={"color": "#57606a"})]

    which.param.watch(show_parameters, "value")
    data.param.watch(show_upload, "value")
    go.on_click(run)
    show_parameters()
    return pn.Column("## Run on my data", pn.Row(which, data, upload, sizing_mode="stretch_width"), hint,
                     parameters, go, chart, sizing_mode="stretch_width")


def _rater(owned: list[Owned]) -> pn.Column:
    """Rate what I own (one rating each; rating again changes it), through the ratings service."""
    which = pn.widgets.Select(name="Rate", options={f"{each.title} ({each.slug})": each for each in owned},
                              width=260)
    stars = pn.widgets.RadioButtonGroup(name="Stars", options={"★" * count: count for count in range(1, 6)},
                                        value=5, button_type="warning")
    comment = pn.widgets.TextAreaInput(name="Review (optional)", max_length=ratings.MAX_COMMENT, height=80)
    send = pn.widgets.Button(name="Save my rating", button_type="primary", width=160)
    said = pn.Column(sizing_mode="stretch_width")

    @guarded(said)
    def save(_event: object) -> None:
        user = context.viewer().user
        assert user is not None
        with context.session() as session:
            listing = listings.get_listing(session, which.value.slug)
            ratings.rate(session, user, listing, int(stars.value), (comment.value or "").strip())
            average, count = listing.rating_avg, listing.rating_count
        said[:] = [notice(f"Thanks: {which.value.title} now has {average:.1f} stars from {count} "
                          f"rating{'s' if count != 1 else ''}.", kind="success")]

    send.on_click(save)
    return pn.Column("## Rate what I own", pn.Row(which, stars, sizing_mode="stretch_width"), comment, send, said,
                     sizing_mode="stretch_width")


def _build() -> pn.Column:
    viewer = context.viewer()
    assert viewer.user is not None
    owned = _owned(viewer.user.id)
    if not owned:
        return pn.Column(notice("Your library is empty. Find an indicator in Explore: free ones install with one "
                                "click, paid ones are yours once the payment arrives.",
                                action=("Explore the marketplace", context.url("explore"))))
    chosen = (pn.state.session_args.get("slug") or [b""])[0].decode()
    return pn.Column("## What I own", *[_card(each) for each in owned], _runner(owned, chosen), _rater(owned),
                     sizing_mode="stretch_width")


def page() -> pn.template.BaseTemplate:
    return private("My library", "library", Role.USER, _build)
