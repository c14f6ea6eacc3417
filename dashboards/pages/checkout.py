"""After checkout (``?purchase=<id>``, or Stripe's ``?checkout=<session id>``): has the payment arrived yet?

Coming back from the provider proves nothing (anyone can open this address); access is granted only when the
provider's signed webhook reaches the API (:mod:`alphabook.payments.webhooks`), which may be a moment later. So
this page reads the purchase every two seconds and says in words where it stands, until it is settled.
"""

from __future__ import annotations

import panel as pn
from panel.io.callbacks import PeriodicCallback
from sqlalchemy import select

from alphabook.accounts.models import Role
from alphabook.core.errors import NotFound
from alphabook.marketplace.models import Listing
from alphabook.payments.models import Purchase, PurchaseStatus
from dashboards import context
from dashboards.components.feedback import guarded, notice
from dashboards.components.shell import private

POLL_MS = 2000
TIMEOUT_MS = 15 * 60 * 1000  # a checkout left open longer than this is abandoned: stop asking


def _argument(name: str) -> str:
    return (pn.state.session_args.get(name) or [b""])[0].decode()


def _find(user_id: int) -> tuple[str, str, str | None] | None:
    """(status, listing slug, failure) of the viewer's purchase named in the address."""
    purchase_id, checkout_ref = _argument("purchase"), _argument("checkout")
    query = select(Purchase, Listing.slug).join(Listing, Listing.id == Purchase.listing_id).where(
        Purchase.buyer_id == user_id)
    if purchase_id.isdigit():
        query = query.where(Purchase.id == int(purchase_id))
    elif checkout_ref:
        query = query.where(Purchase.checkout_ref == checkout_ref)
    else:
        return None
    with context.session() as session:
        row = session.execute(query).first()
        return (row[0].status, row[1], row[0].failure) if row is not None else None


def _status(status: str, slug: str, failure: str | None) -> pn.pane.Alert:
    library, listing = context.url("library", slug=slug), context.url("listing", slug=slug)
    if status == PurchaseStatus.COMPLETED:
        return notice(f"Payment received — {slug} is in your library.", action=("Open my library", library),
                      kind="success")
    if status == PurchaseStatus.PENDING:
        return notice("Waiting for the payment provider to confirm the payment… this page updates by itself. "
                      "If you closed the checkout without paying, nothing was charged.",
                      action=("Back to the listing", listing), kind="warning")
    if status == PurchaseStatus.FAILED:
        return notice(f"The payment did not go through{f' ({failure})' if failure else ''}; nothing was charged.",
                      action=("Try again", listing), kind="danger")
    return notice(f"This purchase was {status}: the money went back and {slug} is no longer in your library.",
                  action=("Back to the listing", listing), kind="danger")


def _build() -> pn.Column:
    viewer = context.viewer()
    assert viewer.user is not None
    user_id = viewer.user.id
    area = pn.Column(sizing_mode="stretch_width")
    polling: list[PeriodicCallback] = []

    @guarded(area)
    def refresh() -> str:
        found = _find(user_id)
        if found is None:
            raise NotFound("There is no purchase of yours at this address; what you own is in My library.")
        area[:] = [_status(*found)]
        if found[0] != PurchaseStatus.PENDING:
            for poll in polling:
                poll.stop()
        return found[0]

    def tick() -> None:
        refresh()

    if refresh() == PurchaseStatus.PENDING:
        polling.append(pn.state.add_periodic_callback(tick, period=POLL_MS, timeout=TIMEOUT_MS))
    return pn.Column("## Checkout", area, sizing_mode="stretch_width")


def page() -> pn.template.BaseTemplate:
    return private("Checkout", "library", Role.USER, _build)
