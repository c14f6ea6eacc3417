"""Notifications (issue #11): what a person hears about, by e-mail and/or signed webhook, and what was sent.

A private page. A grid of checkboxes, one row per event and one column per channel, the address e-mails go to,
the webhook URL (its signing secret is shown once, when it is first set or rotated), a button that sends a test
message, and the latest deliveries with their status and a chart of them. It calls the same service functions as
the API (:mod:`alphabook.notifications.service`), through the API's own input schema, so the rules and the words
of refusals are the same whichever door is used. Messages are sent by the API's delivery thread, so a test shows
as pending first; the list refreshes itself while anything is pending.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from typing import Any

import panel as pn
from bokeh.models import AdaptiveTicker, ColumnDataSource, DataRange1d, FactorRange
from bokeh.plotting import figure
from panel.io.callbacks import PeriodicCallback
from pydantic import ValidationError

from alphabook.accounts.models import Role, User
from alphabook.core.errors import InvalidInput
from alphabook.notifications import service
from alphabook.notifications.events import Event
from alphabook.notifications.models import Channel
from alphabook.notifications.schemas import DeliveryOut, PreferencesIn
from dashboards import context
from dashboards.components.feedback import guarded, notice
from dashboards.components.reports import when
from dashboards.components.shell import private

SHOWN = 30
REFRESH_MS = 2000  # while a delivery is pending
COLOURS = {"sent": "#1a7f37", "pending": "#6e7781", "failed": "#cf222e"}
CSS = """
table.ab-deliveries { border-collapse: collapse; width: 100%; font-size: 0.92em; }
table.ab-deliveries th, table.ab-deliveries td { text-align: left; vertical-align: top; padding: 4px 8px;
                                                 border-bottom: 1px solid #d8dee4; }
table.ab-deliveries td.error { max-width: 380px; overflow-wrap: anywhere; color: #57606a; }
.ab-badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: white; font-size: 0.85em;
            font-weight: 600; }
.ab-secret code { background: #fff8c5; padding: 2px 6px; font-size: 1.05em; }
"""


def _badge(status: str) -> str:
    return (f'<span class="ab-badge ab-status-{html.escape(status)}" '
            f'style="background:{COLOURS.get(status, "#6e7781")}">{html.escape(status)}</span>')


def _table(rows: Sequence[DeliveryOut]) -> pn.pane.HTML:
    head = "".join(f"<th>{name}</th>" for name in ("When", "Event", "Channel", "To", "Status", "Tries", "Error"))
    body = "".join(
        f'<tr class="ab-delivery" data-id="{row.id}"><td>{when(row.created_at)}</td><td>{html.escape(row.title)}</td>'
        f"<td>{html.escape(row.channel)}</td><td>{html.escape(row.recipient)}</td><td>{_badge(row.status)}</td>"
        f'<td>{row.attempts}</td><td class="error">{html.escape(row.last_error or "")}</td></tr>' for row in rows)
    return pn.pane.HTML(f'<table class="ab-deliveries"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
                        sizing_mode="stretch_width", stylesheets=[CSS])


def per_event(rows: Sequence[DeliveryOut]) -> figure:
    """Deliveries per event, stacked by status: what reaches the person, and what does not."""
    counted = Counter((row.title, row.status) for row in rows)
    titles = sorted({title for title, _ in counted})
    statuses = [status for status in COLOURS if any(each == status for _, each in counted)]
    data: dict[str, list[Any]] = {"event": titles, **{status: [counted.get((title, status), 0) for title in titles]
                                                     for status in statuses}}
    plot = figure(y_range=FactorRange(factors=titles), x_range=DataRange1d(start=0),
                  height=150 + 32 * len(titles), sizing_mode="stretch_width",
                  title="Latest notifications by event and status", tools="save", toolbar_location=None,
                  x_axis_label="messages")
    plot.hbar_stack(statuses, y="event", height=0.6, source=ColumnDataSource(data),
                    color=[COLOURS[status] for status in statuses], legend_label=statuses)
    plot.xaxis.ticker = AdaptiveTicker(min_interval=1)  # whole messages
    plot.add_layout(plot.legend[0], "right")
    return plot


def _validated(values: dict[str, Any]) -> dict[str, Any]:
    try:
        return PreferencesIn.model_validate(values).model_dump(exclude_unset=True)
    except ValidationError as error:
        raise InvalidInput("; ".join(str(item["msg"]).removeprefix("Value error, ") for item in error.errors())
                           ) from error


class Preferences:
    """The form: one checkbox per event and channel, the two addresses, and the buttons."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.said = pn.Column(sizing_mode="stretch_width")
        self.boxes = {(event, channel): pn.widgets.Checkbox(name=label, width=90, css_classes=[
                          f"ab-{channel.value}-{event.value.replace('.', '-')}"])
                      for event in Event.choices() for channel, label in ((Channel.EMAIL, "e-mail"),
                                                                          (Channel.WEBHOOK, "webhook"))}
        self.email = pn.widgets.TextInput(name="Send e-mails to", placeholder="your account's address")
        self.webhook = pn.widgets.TextInput(name="Webhook URL", placeholder="https://example.org/alphabook-events")
        self.save = pn.widgets.Button(name="Save", button_type="primary", width=110)
        self.test = pn.widgets.Button(name="Send a test", width=130)
        self.rotate = pn.widgets.Button(name="New signing secret", width=170)
        self.deliveries = pn.Column(sizing_mode="stretch_width")
        self.ticking: list[PeriodicCallback] = []
        self.save.on_click(lambda _event: guarded(self.said, busy=self.save)(self.on_save)())
        self.test.on_click(lambda _event: guarded(self.said, busy=self.test)(self.on_test)())
        self.rotate.on_click(lambda _event: guarded(self.said, busy=self.rotate)(self.on_rotate)())

    def view(self) -> pn.viewable.Viewable:
        grid = [pn.Row(pn.pane.Markdown(event.label, width=320), self.boxes[(event, Channel.EMAIL)],
                       self.boxes[(event, Channel.WEBHOOK)]) for event in Event.choices()]
        return pn.Column(self.said, "## What you hear about", *grid, self.email, self.webhook,
                         pn.Row(self.save, self.test, self.rotate), "## Latest notifications", self.deliveries,
                         sizing_mode="stretch_width")

    def show(self) -> None:
        with context.session() as session:
            choices = service.choices_of(session, self.user)
            rows = [DeliveryOut.of(row) for row in service.recent_deliveries(session, self.user, SHOWN)]
        for (event, channel), box in self.boxes.items():
            box.value = event in (choices.email_events if channel is Channel.EMAIL else choices.webhook_events)
        self.email.value, self.webhook.value = choices.own_email or "", choices.webhook_url or ""
        self.email.placeholder = choices.email if choices.email and not choices.own_email else "name@example.org"
        self.show_deliveries(rows)

    def show_deliveries(self, rows: list[DeliveryOut]) -> None:
        if rows:
            self.deliveries[:] = [_table(rows), pn.pane.Bokeh(per_event(rows), sizing_mode="stretch_width")]
        else:
            self.deliveries[:] = [notice("Nothing sent yet. Choose events above, or send a test.")]
        pending = any(row.status == "pending" for row in rows)
        if pending and not self.ticking:
            self.ticking.append(pn.state.add_periodic_callback(self.refresh, period=REFRESH_MS))
        elif not pending and self.ticking:
            self.ticking.pop().stop()

    def refresh(self) -> None:
        with context.session() as session:
            rows = [DeliveryOut.of(row) for row in service.recent_deliveries(session, self.user, SHOWN)]
        self.show_deliveries(rows)

    def on_save(self) -> None:
        changes = _validated({
            "email": self.email.value, "webhook_url": self.webhook.value,
            "email_events": [event for (event, channel), box in self.boxes.items()
                             if channel is Channel.EMAIL and box.value],
            "webhook_events": [event for (event, channel), box in self.boxes.items()
                               if channel is Channel.WEBHOOK and box.value]})
        with context.session() as session:
            _, secret = service.update_choices(session, context.settings(), self.user, changes)
        self.said[:] = [self._secret(secret) if secret else notice("Saved.", kind="success")]
        self.show()

    def on_test(self) -> None:
        with context.session() as session:
            sent = [each.channel for each in service.send_test(session, self.user)]
        self.said[:] = [notice(f"A test message is on its way by {' and '.join(sent)}; it appears below.",
                               kind="success")]
        self.refresh()

    def on_rotate(self) -> None:
        with context.session() as session:
            secret = service.rotate_webhook_secret(session, context.settings(), self.user)
        self.said[:] = [self._secret(secret)]

    @staticmethod
    def _secret(secret: str) -> pn.pane.Alert:
        return pn.pane.Alert(
            '<div class="ab-secret">Saved. Your webhook signing secret, shown this once: '
            f'<code class="ab-whsec">{html.escape(secret)}</code><br>Check each webhook\'s '
            "<code>webhook-signature</code> header with it (Standard Webhooks).</div>",
            alert_type="warning", sizing_mode="stretch_width", stylesheets=[CSS])


def _build() -> pn.viewable.Viewable:
    user = context.viewer().user
    assert user is not None
    form = Preferences(user)
    body = pn.Column(sizing_mode="stretch_width")
    body[:] = [form.view()]
    guarded(body)(form.show)()
    return body


def page() -> pn.template.BaseTemplate:
    return private("Notifications", "notifications", Role.USER, _build)
