"""Admin: the moderation queue with each version's automated checks and code, decisions with a reason, flagged
listings and signal providers, refunds, payouts run now, and the audit log.

Every decision goes through the service the API's admin routes call (:mod:`alphabook.marketplace.moderation`,
:func:`alphabook.payments.purchases.refund`, :func:`alphabook.payments.payouts.run_payouts`), which checks the
administrator role and writes the audit entry in the same transaction; this page never changes a row itself.
What people typed (titles, changelogs, flag reasons) is escaped before it is shown: Markdown panes pass HTML on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape

import panel as pn
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core import audit
from alphabook.core.errors import InvalidInput
from alphabook.marketplace import listings, moderation
from alphabook.marketplace.models import Listing
from alphabook.payments import payouts, purchases
from alphabook.payments.providers import build_provider
from alphabook.trading.copy import flags
from dashboards import context
from dashboards.components import reports
from dashboards.components.feedback import guarded, notice
from dashboards.components.shell import private

AUDIT_PAGE = 50
Decision = Callable[[Session, User, Listing, str], object]
DECISIONS: dict[str, tuple[Decision, str]] = {
    "Approve": (lambda session, admin, listing, reason: moderation.approve(session, admin, listing, reason or None),
                "success"),
    "Reject": (moderation.reject, "danger"),
    "Resolve flags": (moderation.resolve_flags, "primary"),
    "Suspend": (moderation.suspend, "warning"),
}


def page() -> pn.template.BaseTemplate:
    return private("Admin", "admin", Role.ADMIN, _build)


def _decision(choice: str, slug: str, reason: pn.widgets.TextInput, said: pn.Column,
              decide: Callable[[str, str, str], None]) -> pn.widgets.Button:
    button = pn.widgets.Button(name=choice, button_type=DECISIONS[choice][1], width=140)
    act = guarded(said, busy=button)(decide)
    button.on_click(lambda _event: act(choice, slug, reason.value or ""))
    return button


def _review_card(session: Session, listing: Listing, decide: Callable[[str, str, str], None]) -> pn.Column:
    """One queued listing: what is waiting (a version and its checks, open flags) and the decisions open to it."""
    version = moderation.pending_version(listing)
    reported = moderation.open_flags(session, listing)
    reason = pn.widgets.TextInput(name="Reason (the creator sees it)", placeholder="Required to reject or suspend")
    said = pn.Column(sizing_mode="stretch_width")
    shown: list[pn.viewable.Viewable] = [pn.pane.Markdown(
        f"### {escape(listing.title)}\n`{listing.slug}` by {escape(listing.creator.name)} · {listing.kind} · "
        f"{listing.status} · updated {reports.when(listing.updated_at)}", sizing_mode="stretch_width")]
    choices = []
    if version is not None:
        shown += [pn.pane.Markdown(f"Version **{version.version}** waits for review: {escape(version.changelog)}"),
                  reports.checks(version), reports.code(version)]
        choices += ["Approve", "Reject"]
    if reported:
        shown.append(pn.pane.Markdown("**Open flags**\n" + "\n".join(
            f"- {reports.when(flag.created_at)}: {escape(flag.reason)}" for flag in reported)))
        choices += ["Resolve flags", "Suspend"]
    buttons = [_decision(choice, listing.slug, reason, said, decide) for choice in choices]
    return pn.Column(*shown, reason, pn.Row(*buttons), said, css_classes=["ab-review"], stylesheets=[reports.CARD_CSS],
                     sizing_mode="stretch_width", margin=(5, 5, 15, 5))


def _queue(admin: User) -> pn.viewable.Viewable:
    cards, said = pn.Column(sizing_mode="stretch_width"), pn.Column(sizing_mode="stretch_width")

    def refresh() -> None:
        with context.session() as session:
            queued: list[pn.viewable.Viewable] = [_review_card(session, listing, decide)
                                                  for listing in moderation.queue(session)]
        cards[:] = queued or [notice("Nothing waits for review.")]

    def decide(choice: str, slug: str, reason: str) -> None:
        with context.session() as session:
            DECISIONS[choice][0](session, admin, listings.get_listing(session, slug), reason)
        said[:] = [notice(f"{choice}: done for {slug}; the audit log has it.", kind="success")]
        refresh()

    guarded(cards)(refresh)()
    return pn.Column(said, cards, sizing_mode="stretch_width")


def _flagged_providers() -> list[pn.viewable.Viewable]:
    with context.session() as session:
        rows = [{"Provider": provider.name, "Flag": flag.kind, "Why": flag.reason,
                 "Raised": reports.when(flag.raised_at)} for flag, provider in flags.flagged(session)]
    explain = pn.pane.Markdown("Raised and cleared by the verification and performance checks themselves.")
    return [explain, reports.table(rows) if rows else notice("No signal provider is flagged.")]


def _refunds(admin: User) -> pn.viewable.Viewable:
    number = pn.widgets.IntInput(name="Purchase number", start=1, value=None)
    reason = pn.widgets.TextInput(name="Reason", placeholder="refunded by an administrator")
    look = pn.widgets.Button(name="Look up", width=120)
    refund = pn.widgets.Button(name="Refund", button_type="danger", width=120)
    said = pn.Column(sizing_mode="stretch_width")

    def chosen() -> int:
        if not number.value:
            raise InvalidInput("Type the number of the purchase to refund.")
        return int(number.value)

    @guarded(said, busy=look)
    def show(_event: object) -> None:
        with context.session() as session:
            purchase = purchases.get_purchase(session, chosen())
            listing = listings.get_listing_by_id(session, purchase.listing_id)
            buyer = session.get(User, purchase.buyer_id) if purchase.buyer_id is not None else None
            said[:] = [reports.table([{"Purchase": purchase.id, "Listing": listing.slug,
                                       "Buyer": buyer.name if buyer else "(deleted)", "Amount": str(purchase.amount),
                                       "Status": purchase.status, "Paid": reports.when(purchase.completed_at),
                                       "Refunded": reports.when(purchase.refunded_at)}])]

    @guarded(said, busy=refund)
    def give_back(_event: object) -> None:
        settings = context.settings()
        with context.session() as session:
            purchase = purchases.refund(session, build_provider(settings), settings,
                                        purchases.get_purchase(session, chosen()), admin,
                                        (reason.value or "").strip() or "refunded by an administrator")
            outcome = f"Purchase {purchase.id} ({purchase.amount}) is {purchase.status}; its buyer lost access."
        said[:] = [notice(outcome, kind="success")]

    look.on_click(show)
    refund.on_click(give_back)
    return pn.Column(pn.Row(number, reason), pn.Row(look, refund), said, sizing_mode="stretch_width")


def _payout_run() -> pn.viewable.Viewable:
    run = pn.widgets.Button(name="Run payouts now", button_type="primary", width=180)
    said = pn.Column(sizing_mode="stretch_width")

    @guarded(said, busy=run)
    def go(_event: object) -> None:
        settings = context.settings()
        settled = payouts.run_payouts(context.database(), settings, build_provider(settings))
        rows = [{"Payout": each.id, "Creator": each.creator_id, "Amount": str(each.amount), "Status": each.status,
                 "Why it failed": each.failure or ""} for each in settled]
        said[:] = [reports.table(rows) if rows else notice("Nobody was owed a payout above the minimum.")]

    run.on_click(go)
    return pn.Column(pn.pane.Markdown("Queues every creator's balance above the minimum and sends what is queued "
                                      "(it also runs on a schedule)."), run, said, sizing_mode="stretch_width")


def _audit_log() -> pn.viewable.Viewable:
    subject = pn.widgets.TextInput(name="Subject", placeholder="listing:alice/rsi, purchase:12, payout:3")
    action = pn.widgets.TextInput(name="Action", placeholder="listing.approved")
    actor = pn.widgets.TextInput(name="Actor", placeholder="a user name")
    search = pn.widgets.Button(name="Search the log", width=160)
    more = pn.widgets.Button(name="Next page", visible=False, width=120)
    found = pn.Column(sizing_mode="stretch_width")
    cursor = {"after": 0}

    @guarded(found, busy=search)
    def run(after: int) -> None:
        with context.session() as session:
            rows = audit.entries(session, subject=(subject.value or "").strip() or None,
                                 action=(action.value or "").strip() or None,
                                 actor=(actor.value or "").strip() or None, after_id=after, limit=AUDIT_PAGE)
        found[:] = [reports.table([{"#": row.id, "When": reports.when(row.at), "Actor": row.actor,
                                    "Action": row.action, "Subject": row.subject,
                                    "Details": json.dumps(row.data, default=str)[:300]} for row in rows])
                    if rows else notice("No audit entry matches (names match exactly).")]
        cursor["after"] = rows[-1].id if rows else after
        more.visible = len(rows) == AUDIT_PAGE

    search.on_click(lambda _event: run(0))
    more.on_click(lambda _event: run(cursor["after"]))
    return pn.Column(pn.Row(subject, action, actor), pn.Row(search, more), found, sizing_mode="stretch_width")


def _build() -> pn.viewable.Viewable:
    admin = context.viewer().user
    assert admin is not None, "private() builds this page for signed-in administrators only"
    providers = pn.Column(sizing_mode="stretch_width")

    def fill_providers() -> None:
        providers[:] = _flagged_providers()

    guarded(providers)(fill_providers)()
    return pn.Column(
        pn.pane.Markdown("## Moderation queue: versions to review and flagged listings"), _queue(admin),
        pn.pane.Markdown("## Flagged signal providers"), providers,
        pn.pane.Markdown("## Refunds"), _refunds(admin),
        pn.pane.Markdown("## Payouts"), _payout_run(),
        pn.pane.Markdown("## Audit log"), _audit_log(), sizing_mode="stretch_width")
