"""Demo trading: a paper account in one click, an order ticket over replayed prices, and everything the account
holds (open orders, positions, P&L, cash, equity and its curve), with webhooks for TradingView and kill switches.

Whose account: an anonymous visitor's one-click demo, found by the demo cookie (the same token as the API's,
but set by :class:`StartDemo` for this service's path, since a cookie of the API's path never reaches here); a
signed-in person's own paper account (:func:`alphabook.trading.accounts.own_paper_account`), so nobody signed in
trades in a throwaway demo. The account is decided once per browser session, and every action re-reads it.

How orders get filled: this page only *decides* orders (:func:`alphabook.trading.orders.submit` writes the order
and its outbox message in one transaction); the order dispatcher sends them to the paper broker. ``make run``
(and ``alphabook run``) starts the API with ``trading_dispatcher_in_api`` on, so the API process's dispatcher polls
the shared outbox every ``trading_dispatch_poll_seconds`` (0.5 s) and fills a market order within about a second;
with that setting off, ``alphabook trading dispatch`` runs beside it instead. The dashboards therefore run no
dispatcher of their own (a second one would be correct, as dispatchers share the work by leases, but would only
poll the same outbox twice) and simply refresh what they show every :data:`REFRESH_MS`.

Prices: the chart and the marks of positions come from the bundled replay (:meth:`ReplayFeed.bundled`), built
once per process like the broker's; both start their replay when first used, so they agree to the bar unless a
bar closes between the two starts.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import panel as pn
from bokeh.models import NumeralTickFormatter
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session
from tornado import web

from alphabook.api.ratelimit import build_limiter, count_demo_opening
from alphabook.api.trading_deps import DEMO_COOKIE
from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict, InvalidInput, RateLimited
from alphabook.core.money import Money
from alphabook.trading import accounts, equity, hooks, journal, orders, portfolio, risk
from alphabook.trading.brokers.base import OrderType, Side, TimeInForce
from alphabook.trading.credentials import cipher_for
from alphabook.trading.models import Alert, Hook, HookFormat, Order, OrderSource, TradingAccount
from alphabook.trading.prices import ReplayFeed
from alphabook.trading.risk import RiskRefused
from alphabook.trading.schemas import HookWithSecret
from dashboards import auth, context
from dashboards.components import charts
from dashboards.components.feedback import guarded, notice
from dashboards.components.numbers import amount, number, typed
from dashboards.components.shell import page as shell

REFRESH_MS = 2000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "every bar the replay has closed so far"
HOOK_URL = "{base}/services/api/api/hooks/{hook_id}"  # where the API service receives alerts
CSS = """
.ab-stats { display: flex; flex-wrap: wrap; gap: 10px; }
.ab-stat { border: 1px solid #d0d7de; border-radius: 8px; padding: 6px 12px; background: white; min-width: 140px; }
.ab-stat small { display: block; color: #57606a; }
.ab-stat b { font-size: 1.15em; }
.ab-start { background: #1f6feb; color: white; border: 0; border-radius: 6px; padding: 10px 18px; font-size: 1.1em;
            cursor: pointer; }
"""


@functools.cache
def feed() -> ReplayFeed:
    return ReplayFeed.bundled()


# --- starting a demo ------------------------------------------------------------------------------------------


@functools.cache
def limiter() -> MovingWindowRateLimiter:
    return build_limiter(context.settings().redis_url)


class StartDemo(auth.PlainHandler):
    """Open a demo for this browser (or keep its active one) and hand it the cookie, scoped to the dashboards'
    path, HttpOnly and SameSite=Lax like the API's; it lives until the demo may be deleted. A POST, so that a
    link or a prefetch never opens accounts; rate-limited per address like the API's demos."""

    def post(self) -> None:
        settings = context.settings()
        with context.session() as session:
            existing = accounts.find_demo(session, self.get_cookie(DEMO_COOKIE))
            if existing is not None and accounts.is_writable(existing, utcnow()):
                self.redirect(context.url("demo"))
                return
            try:
                count_demo_opening(limiter(), settings, self.client_address())
            except RateLimited as error:
                raise web.HTTPError(error.status, error.detail) from None
            account, token = accounts.open_demo(session, settings)
            due = accounts.deletion_due(account, settings)
        max_age = max(0, int((due - utcnow()).total_seconds())) if due is not None else 0
        self.set_cookie(DEMO_COOKIE, token, path=context.prefix(), httponly=True, samesite="Lax", max_age=max_age,
                        secure=settings.demo_cookie_is_secure)
        self.redirect(context.url("demo"))

    def get(self) -> None:
        self.redirect(context.url("demo"))

    def client_address(self) -> str:
        """The visitor's address: the hub's proxy, on this machine, adds it last to X-Forwarded-For."""
        forwarded = self.request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        loopback = self.request.remote_ip in ("127.0.0.1", "::1")
        return forwarded if loopback and forwarded else self.request.remote_ip or "unknown"


ROUTES = [("/demo/start", StartDemo)]


def _welcome() -> pn.viewable.Viewable:
    settings = context.settings()
    cash = amount(Money(settings.demo_starting_cash_minor, settings.demo_currency))
    return pn.pane.HTML(
        f"<h2>Trade with {cash} of virtual money</h2>"
        f"<p>No sign-up: a demo account for {settings.demo_days} days on replayed market prices (GOOG, EUR/USD, "
        "BTC/USD), with market, limit and stop orders, positions, P&amp;L and webhooks for TradingView alerts.</p>"
        f'<form method="post" action="{context.url("demo/start")}"><button class="ab-start" type="submit">'
        f'Start my demo</button></form><p>Or <a href="{context.login_url(context.url("demo"))}">log in</a> to '
        "practise in your own paper account.</p>", stylesheets=[CSS], sizing_mode="stretch_width")


def _account_id() -> int | None:
    """The account this browser session trades in (see the module docstring); None: offer a demo."""
    viewer = context.viewer()
    settings = context.settings()
    with context.session() as session:
        if viewer.user is not None:
            cash = Money(settings.demo_starting_cash_minor, settings.demo_currency)
            return accounts.own_paper_account(session, viewer.user, starting_cash=cash).id
        demo = accounts.find_demo(session, (pn.state.cookies or {}).get(DEMO_COOKIE))
        return demo.id if demo is not None else None


# --- the trading desk -----------------------------------------------------------------------------------------


class Desk:
    """One browser session's view of one account: widgets, and the callbacks that go through the services."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.errors = pn.Column(sizing_mode="stretch_width")
        self.heartbeat = pn.pane.HTML("", sizing_mode="stretch_width")
        self.stats = pn.pane.HTML("", stylesheets=[CSS], sizing_mode="stretch_width")
        self.kill = pn.widgets.Button(name="Stop all trading", button_type="danger", width=180)
        self.chart = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.curve = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.open_orders = pn.Column(sizing_mode="stretch_width")
        self.positions = pn.Column(sizing_mode="stretch_width")
        self.recent = pn.Column(sizing_mode="stretch_width")
        self.hooks = pn.Column(sizing_mode="stretch_width")
        self.hook_result = pn.Column(sizing_mode="stretch_width")
        self._shown: dict[str, object] = {}  # what each section last showed: redrawn only when it changes
        symbols = feed().symbols()
        self.symbol = pn.widgets.Select(name="Symbol", options=symbols, value="GOOG" if "GOOG" in symbols else None)
        self.side = pn.widgets.RadioButtonGroup(name="Side", options={"Buy": Side.BUY.value, "Sell": Side.SELL.value},
                                                button_type="primary")
        self.type = pn.widgets.Select(name="Order type", options={kind.value.replace("_", " ").title(): kind.value
                                                                   for kind in OrderType})
        self.quantity = pn.widgets.TextInput(name="Quantity", placeholder="e.g. 5")
        self.limit = pn.widgets.TextInput(name="Limit price", placeholder="e.g. 14.50", visible=False)
        self.stop = pn.widgets.TextInput(name="Stop price", placeholder="e.g. 16.00", visible=False)
        self.tif = pn.widgets.Select(name="Time in force", options={"Good till cancelled": TimeInForce.GTC.value,
                                                                     "Day": TimeInForce.DAY.value,
                                                                     "Immediate or cancel": TimeInForce.IOC.value})
        self.place_button = pn.widgets.Button(name="Place order", button_type="primary")
        self.ticket_status = pn.Column(sizing_mode="stretch_width")
        self.hook_name = pn.widgets.TextInput(name="Webhook name", placeholder="e.g. My TradingView strategy")
        self.hook_button = pn.widgets.Button(name="Create webhook", button_type="primary", width=160)
        self.type.param.watch(lambda _event: self._price_fields(), "value")
        self.symbol.param.watch(lambda _event: self.draw_chart(), "value")
        self.place_button.on_click(lambda _event: self.place())
        self.hook_button.on_click(lambda _event: self.create_hook())
        self.kill.on_click(lambda _event: self.toggle_account_kill())

    # --- reading ------------------------------------------------------------------------------------------

    def _account(self, session: Session) -> TradingAccount:
        account = session.get(TradingAccount, self.account_id)
        if account is None:
            raise InvalidInput("This demo no longer exists (demos are deleted after they expire); start a new one.")
        return account

    def _writable(self, session: Session) -> TradingAccount:
        """The account, for a change only an active one may take (an expired demo is read-only)."""
        account = self._account(session)
        if not accounts.is_writable(account, utcnow()):
            raise Conflict("This demo has expired and is read-only: it keeps what it holds but changes nothing.")
        return account

    def actor(self, account: TradingAccount) -> str:
        return accounts.actor_for(account, context.viewer().user)

    def refresh(self) -> None:
        """Redraw what changed: numbers, orders, positions, the equity curve and the hooks."""
        guarded(self.errors, busy=self.heartbeat)(self._refresh)()

    def _refresh(self) -> None:
        now = utcnow()
        with context.session() as session:
            account = self._account(session)
            book = portfolio.portfolio(session, account, feed())
            working = orders.open_orders(session, account)
            recent = journal.journal_page(session, account, limit=10).entries
            points = equity.curve(session, account, feed())
            account_hooks = [(hook, hooks.alerts_of(session, account, hook_id=hook.id, limit=10))
                             for hook in hooks.hooks_of(session, account)]
            self._stats(account, book, now)
            self._update("open", [(o.id, o.state, o.filled_quantity) for o in working],
                         lambda: self._draw_open(working))
            self._update("positions", [(p.symbol, p.quantity, p.mark_price) for p in book.positions],
                         lambda: self._draw_positions(book))
            self._update("recent", [(e.order.id, e.order.state) for e in recent], lambda: self._draw_recent(recent))
            # Redrawn when the curve's figures change, not for the clock alone (a new figure each time flickers).
            self._update("curve", (points[:-1], points[-1][1]), lambda: self._draw_curve(points))
            self._update("hooks", [(h.id, h.kill_switch, [a.id for a in log]) for h, log in account_hooks],
                         lambda: self._draw_hooks(account_hooks))
        if self.errors.objects:
            self.errors[:] = []
        self.heartbeat.object = (f"<small>Updates every {REFRESH_MS // 1000} s · last at "
                                 f"{now:%H:%M:%S} UTC</small>")

    def _update(self, section: str, key: object, draw: Callable[[], None]) -> None:
        if self._shown.get(section) != key:
            self._shown[section] = key
            draw()

    def _stats(self, account: TradingAccount, book: portfolio.Portfolio, now: datetime) -> None:
        left = accounts.days_left(account, now)
        writable = accounts.is_writable(account, now)
        figures = [("Account", html.escape(account.name)), ("Cash", amount(book.cash)),
                   ("Equity", amount(book.equity)), ("Realized P&amp;L", amount(book.realized_pnl)),
                   ("Unrealized P&amp;L", amount(book.unrealized_pnl)), ("Fees", amount(book.fees))]
        if left is not None:
            figures.append(("Days left", str(left) if writable else "expired: read-only"))
        if account.kill_switch:
            figures.append(("Kill switch", f"ON: {html.escape(account.kill_reason or 'stopped')}"))
        self.stats.object = '<div class="ab-stats">' + "".join(
            f'<div class="ab-stat ab-{label.split(" ")[0].lower().replace("&amp;", "")}"><small>{label}</small>'
            f"<b>{value}</b></div>" for label, value in figures) + "</div>"
        self.kill.name = "Re-arm trading" if account.kill_switch else "Stop all trading"
        self.kill.button_type = "success" if account.kill_switch else "danger"

    def _draw_open(self, working: list[Order]) -> None:
        if not working:
            self.open_orders[:] = [notice("No open orders. Limit and stop orders wait here until they fill.")]
            return
        rows = []
        for order in working:
            prices = [f"{name} {number(value)}" for name, value in (("stop", order.stop_price),
                                                                     ("limit", order.limit_price)) if value]
            cancel = pn.widgets.Button(name="Cancel", button_type="light", width=90)
            cancel.on_click(functools.partial(self.cancel, order.id))
            rows.append(pn.Row(pn.pane.HTML(
                f'<span class="ab-open-order">#{order.id} {order.side} {number(order.quantity)} '
                f"{html.escape(order.symbol)} {' '.join(prices) or order.type} · {order.time_in_force} · "
                f"{order.state.replace('_', ' ')}</span>", sizing_mode="stretch_width"), cancel,
                sizing_mode="stretch_width"))
        self.open_orders[:] = rows

    def _draw_positions(self, book: portfolio.Portfolio) -> None:
        if not book.positions:
            self.positions[:] = [notice("No positions yet: place an order from the ticket.")]
            return
        frame = pd.DataFrame([{"Symbol": p.symbol, "Quantity": number(p.quantity),
                               "Average price": number(p.average_price), "Mark": number(p.mark_price),
                               "Market value": amount(p.market_value), "Unrealized P&L": amount(p.unrealized_pnl),
                               "Realized P&L": amount(p.realized_pnl)} for p in book.positions])
        self.positions[:] = [pn.pane.DataFrame(frame, index=False, sizing_mode="stretch_width",
                                               css_classes=["ab-positions"])]

    def _draw_recent(self, recent: list[journal.JournalEntry]) -> None:
        frame = pd.DataFrame([{"Order": f"#{e.order.id}", "Time (UTC)": f"{e.order.created_at:%Y-%m-%d %H:%M:%S}",
                               "Order details": f"{e.order.side} {number(e.order.quantity)} {e.order.symbol} "
                                                f"{e.order.type.replace('_', ' ')}",
                               "State": e.order.state.replace("_", " "),
                               "Filled at": number(e.order.average_price), "Fees": amount(e.fees),
                               "Note": e.order.reason or ""} for e in recent])
        self.recent[:] = [pn.pane.DataFrame(frame, index=False, sizing_mode="stretch_width") if recent else
                          notice("Orders you place appear here with what happened to them.")]

    def _draw_curve(self, points: list[tuple[datetime, Money]]) -> None:
        series = pd.Series([float(value.to_decimal()) for _, value in points],  # plotted only: the figures are Money
                           index=pd.DatetimeIndex([moment for moment, _ in points]))
        plot = charts.lines({"Equity": series}, title="Equity", y_label=points[0][1].currency, height=220)
        plot.yaxis.formatter = NumeralTickFormatter(format="0,0.00")
        self.curve.object = plot

    def _draw_hooks(self, account_hooks: list[tuple[Hook, list[Alert]]]) -> None:
        if not account_hooks:
            self.hooks[:] = [notice("No webhooks yet. Create one to trade from TradingView alerts.")]
            return
        cards = []
        for hook, log in account_hooks:
            toggle = pn.widgets.Button(name="Re-arm" if hook.kill_switch else "Stop this hook", width=130,
                                       button_type="success" if hook.kill_switch else "warning")
            toggle.on_click(functools.partial(self.toggle_hook_kill, hook.id))
            state = f"kill switch on ({html.escape(hook.kill_reason or '')})" if hook.kill_switch else "armed"
            frame = pd.DataFrame([{"Received (UTC)": f"{alert.received_at:%Y-%m-%d %H:%M:%S}",
                                   "Decision": alert.decision, "Order": f"#{alert.order_id}" if alert.order_id else "",
                                   "Reason": alert.reason or ""} for alert in log])
            alerts = pn.pane.DataFrame(frame, index=False, sizing_mode="stretch_width") if log else notice(
                "No alerts received yet.")
            cards.append(pn.Column(pn.Row(pn.pane.HTML(
                f"<b>{html.escape(hook.name)}</b> · {state}<br><code>{html.escape(self.hook_url(hook.id))}</code>",
                sizing_mode="stretch_width"), toggle, sizing_mode="stretch_width"), alerts,
                css_classes=["ab-card"], sizing_mode="stretch_width"))
        self.hooks[:] = cards

    def draw_chart(self) -> None:
        guarded(self.errors, busy=self.symbol)(self._chart)()

    def _chart(self) -> None:
        symbol = self.symbol.value
        bars = feed().bars_since(symbol, EPOCH)
        if not bars:
            self.chart.object = None
            return
        frame = pd.DataFrame({"open": [float(bar.open) for bar in bars], "high": [float(bar.high) for bar in bars],
                              "low": [float(bar.low) for bar in bars], "close": [float(bar.close) for bar in bars]},
                             index=pd.DatetimeIndex([bar.opened_at for bar in bars]))
        self.chart.object = charts.candles(frame, title=f"{symbol} · replayed, last {number(bars[-1].close)}",
                                           height=340)

    # --- acting -------------------------------------------------------------------------------------------

    def _price_fields(self) -> None:
        kind = OrderType(self.type.value)
        self.limit.visible = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        self.stop.visible = kind in (OrderType.STOP, OrderType.STOP_LIMIT)

    def place(self) -> None:
        guarded(self.ticket_status, busy=self.place_button)(self._place)()

    def _place(self) -> None:
        kind = OrderType(self.type.value)
        quantity = typed(self.quantity.value, "Quantity")
        if quantity is None:
            raise InvalidInput("Say how many to trade in Quantity.")
        intent = orders.OrderIntent(
            symbol=self.symbol.value, side=Side(self.side.value), type=kind, quantity=quantity,
            limit_price=typed(self.limit.value, "Limit price") if self.limit.visible else None,
            stop_price=typed(self.stop.value, "Stop price") if self.stop.visible else None,
            time_in_force=TimeInForce(self.tif.value),
            reference_price=feed().price(self.symbol.value) if kind is OrderType.MARKET else None)
        with context.session() as session:
            account = self._account(session)
            try:
                order = orders.submit(session, account, intent, source=OrderSource.MANUAL, actor=self.actor(account))
            except RiskRefused:
                session.commit()  # a kill switch the check tripped stays tripped
                raise
            sent = f"Order #{order.id} sent: {order.side} {number(order.quantity)} {order.symbol} {kind.value}."
        then = (" It fills at the replayed price in a moment." if kind is OrderType.MARKET else
                " It waits under Open orders until the replayed prices reach it.")
        self.ticket_status[:] = [notice(sent + then, kind="success")]
        self.refresh()

    def cancel(self, order_id: int, _event: object = None) -> None:
        guarded(self.errors)(self._cancel)(order_id)

    def _cancel(self, order_id: int) -> None:
        with context.session() as session:
            account = self._account(session)
            orders.cancel(session, orders.open_order(session, account, order_id), actor=self.actor(account),
                          reason="cancelled from the dashboard")
        self.refresh()

    def hook_url(self, hook_id: str) -> str:
        return HOOK_URL.format(base=context.settings().base_url, hook_id=hook_id)

    def create_hook(self) -> None:
        guarded(self.hook_result, busy=self.hook_button)(self._create_hook)()

    def _create_hook(self) -> None:
        name = (self.hook_name.value or "").strip()
        if not name:
            raise InvalidInput("Give the webhook a name, e.g. the strategy that sends its alerts.")
        with context.session() as session:
            account = self._writable(session)
            made = hooks.create(session, cipher_for(context.settings()), account, actor=self.actor(account),
                                name=name, format=HookFormat.TRADINGVIEW, live=False)
            shown = HookWithSecret.with_secret(made.hook, self.hook_url(made.hook.id), made.secret)
        template = html.escape(json.dumps(shown.example, indent=2))
        self.hook_result[:] = [pn.pane.HTML(
            f"<p><b>Webhook “{html.escape(name)}” created.</b> In TradingView, set the alert's webhook URL to</p>"
            f'<pre class="ab-hook-url">{html.escape(shown.url)}</pre><p>and paste this as its message. It holds the '
            "hook's secret, shown this once only: copy it now.</p>"
            f'<pre class="ab-hook-template">{template}</pre>', sizing_mode="stretch_width")]
        self.hook_name.value = ""
        self.refresh()

    def toggle_hook_kill(self, hook_id: str, _event: object = None) -> None:
        guarded(self.errors)(self._toggle_hook_kill)(hook_id)

    def _toggle_hook_kill(self, hook_id: str) -> None:
        with context.session() as session:
            account = self._account(session)
            hook = hooks.get_hook(session, account, hook_id)
            if hook.kill_switch:
                self._writable(session)  # re-arming is a change; stopping is always allowed
                risk.rearm_hook(session, hook, actor=self.actor(account))
            else:
                risk.trip_hook(session, hook, actor=self.actor(account), reason="stopped from the dashboard")
        self.refresh()

    def toggle_account_kill(self) -> None:
        guarded(self.errors, busy=self.kill)(self._toggle_account_kill)()

    def _toggle_account_kill(self) -> None:
        with context.session() as session:
            account = self._account(session)
            if account.kill_switch:
                self._writable(session)
                risk.rearm_account(session, account, actor=self.actor(account))
            else:
                risk.trip_account(session, account, actor=self.actor(account), reason="stopped from the dashboard")
        self.refresh()

    # --- layout -------------------------------------------------------------------------------------------

    def ticket(self) -> list[pn.viewable.Viewable]:
        return [pn.pane.Markdown("### Order ticket"), self.symbol, self.side, self.type, self.quantity, self.limit,
                self.stop, self.tif, self.place_button, self.ticket_status]

    def body(self) -> list[pn.viewable.Viewable]:
        section = functools.partial(pn.pane.Markdown, sizing_mode="stretch_width")
        return [self.errors, pn.Row(self.stats, pn.Column(self.kill, width=200), sizing_mode="stretch_width"),
                self.heartbeat, self.chart, section("### Open orders"), self.open_orders, section("### Positions"),
                self.positions, self.curve, section("### Recent orders"), self.recent,
                section("### Webhooks (TradingView alerts)"),
                pn.Row(self.hook_name, pn.Column(self.hook_button, margin=(24, 5, 5, 5), width=170),
                       sizing_mode="stretch_width"), self.hook_result, self.hooks]


def page() -> pn.template.BaseTemplate:
    account_id = _account_id()
    if account_id is None:
        return shell("Demo trading", _welcome(), active="demo")
    desk = Desk(account_id)
    desk.draw_chart()
    desk.refresh()
    pn.state.add_periodic_callback(desk.refresh, period=REFRESH_MS)
    return shell("Demo trading", *desk.body(), active="demo", sidebar=desk.ticket())
