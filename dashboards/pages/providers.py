"""Signal providers: the copy-trading leaderboard, a provider's page (``?id=``), and following one.

The figures are the platform's own (:mod:`alphabook.trading.copy.metrics`, from the provider's recorded fills),
shown beside what the provider claims and whether verification found the two to agree, so a leaderboard row is
never just a provider's word. Following needs a signed-in person: copies go into their own paper account
(:func:`alphabook.trading.accounts.own_paper_account`, opened on first use), with the scaling, multiplier,
position limit and stop-loss they choose; :func:`alphabook.trading.copy.subscriptions.subscribe` checks them.
"""

from __future__ import annotations

import functools
import html
from decimal import Decimal

import pandas as pd
import panel as pn
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money
from alphabook.payments.providers import PaymentProvider, build_provider
from alphabook.trading import accounts
from alphabook.trading.copy import metrics, providers, subscriptions
from alphabook.trading.copy.models import Scaling, SignalProvider, Subscription, SubscriptionStatus
from alphabook.trading.copy.providers import SORTS, TraderQuery, TraderRow
from alphabook.trading.copy.schemas import percent, ratio
from alphabook.trading.copy.subscriptions import CopyRules
from dashboards import context
from dashboards.components import charts
from dashboards.components.feedback import guarded, notice, problem
from dashboards.components.numbers import amount, typed
from dashboards.components.shell import page as shell

SORT_LABELS = {"Total return": "return", "Smallest drawdown": "drawdown", "Sharpe ratio": "sharpe",
               "Win rate": "win_rate", "Most followers": "followers", "Best rated": "rating", "Newest": "newest"}
assert set(SORT_LABELS.values()) == set(SORTS)
SCALINGS = {"Fixed: the provider's quantity × multiplier": Scaling.FIXED.value,
            "Proportional to our equities, × multiplier": Scaling.PROPORTIONAL.value}


@functools.cache
def payments() -> PaymentProvider:
    return build_provider(context.settings())


def pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:f} %"


def price(provider: SignalProvider) -> str:
    return "Free" if provider.price_minor == 0 else f"{amount(provider.price)}/month"


def _requested_id() -> int | None:
    raw = (pn.state.session_args or {}).get("id")
    if not raw:
        return None
    try:
        return int(raw[0])
    except ValueError:
        raise InvalidInput(f"{raw[0].decode(errors='replace')!r} is not a provider number.") from None


def figures(row: TraderRow) -> dict[str, str]:
    """The platform-recorded figures of a provider, as shown in the leaderboard and on its page."""
    provider = row.provider
    rating = "—" if row.rating is None else f"{row.rating:f} ★ ({row.rating_count})"
    return {"Return": pct(percent(provider.return_bp)), "Max drawdown": pct(percent(provider.max_drawdown_bp)),
            "Sharpe": "—" if provider.sharpe_milli is None else f"{ratio(provider.sharpe_milli):f}",
            "Win rate": pct(percent(provider.win_rate_bp)), "Trades": str(provider.trades),
            "Followers": str(row.followers), "Rating": rating, "Verification": provider.verification,
            "Price": price(provider)}


# --- the leaderboard ------------------------------------------------------------------------------------------


def leaderboard() -> tuple[list[pn.viewable.Viewable], list[pn.viewable.Viewable]]:
    sort = pn.widgets.Select(name="Sort by", options=SORT_LABELS)
    board = pn.Column(sizing_mode="stretch_width")

    @guarded(board)
    def show() -> None:
        with context.session() as session:
            rows = providers.browse(session, TraderQuery(sort=sort.value, limit=100))
            table = [{"Provider": f'<a class="ab-provider" href="{context.url("providers", id=row.provider.id)}">'
                                  f"{html.escape(row.provider.name)}</a>", **figures(row)} for row in rows]
        if not table:
            board[:] = [notice("No signal providers are listed yet. Traders apply with a paper or live account "
                               "and appear here once an administrator approves them.")]
            return
        board[:] = [pn.pane.DataFrame(pd.DataFrame(table), index=False, escape=False, sizing_mode="stretch_width")]

    sort.param.watch(lambda _event: show(), "value")
    show()
    intro = pn.pane.Markdown("## Signal providers\nCopy the trades of listed traders into your paper account. "
                             "Figures are computed by alphabook from each provider's recorded trades; "
                             "*verification* says whether what they claim matches them.")
    return [intro, board], [sort]


# --- one provider ---------------------------------------------------------------------------------------------


def _detail(row: TraderRow, trader: str) -> pn.viewable.Viewable:
    provider = row.provider
    claims = {"Return": percent(provider.claimed_return_bp), "Max drawdown": percent(provider.claimed_drawdown_bp),
              "Win rate": percent(provider.claimed_win_rate_bp)}
    claimed = ", ".join(f"{name} {pct(value)}" for name, value in claims.items() if value is not None)
    table = pd.DataFrame([figures(row)])
    verified = f" (checked {provider.verified_at:%Y-%m-%d} UTC)" if provider.verified_at else ""
    return pn.Column(
        pn.pane.Markdown(f"## {html.escape(provider.name)}\nby **{html.escape(trader)}** · {price(provider)}\n\n"
                         f"{html.escape(provider.description)}", sizing_mode="stretch_width"),
        pn.pane.DataFrame(table, index=False, sizing_mode="stretch_width"),
        pn.pane.Markdown(f"Claimed by the provider: {claimed or 'nothing'} · verification: "
                         f"**{provider.verification}**{verified}", sizing_mode="stretch_width"),
        sizing_mode="stretch_width")


def _history(session: Session, provider: SignalProvider) -> pn.viewable.Viewable:
    days = metrics.history(session, provider)
    if len(days) < 2:
        return notice("The daily equity curve appears after two days of recorded figures.")
    equity = pd.Series([float(Money(day.equity_minor, provider.currency).to_decimal()) for day in days],
                       index=pd.DatetimeIndex([pd.Timestamp(day.day, tz="UTC") for day in days]))
    return pn.pane.Bokeh(charts.lines({"Equity": equity}, title="Equity at each day's end", height=220),
                         sizing_mode="stretch_width")


def _following(session: Session, user: User, provider: SignalProvider) -> Subscription | None:
    return next((each for each in subscriptions.mine(session, user)
                 if each.provider_id == provider.id and each.status == SubscriptionStatus.ACTIVE), None)


def describe(subscription: Subscription) -> str:
    limits = ", ".join(f"{symbol} ≤ {limit}" for symbol, limit in subscription.position_limits.items())
    stop = f", stop-loss {subscription.stop_loss_pct:f} %" if subscription.stop_loss_pct is not None else ""
    return (f"You follow this provider into account #{subscription.account_id}: {subscription.scaling} scaling, "
            f"multiplier {subscription.multiplier.normalize():f}{', limits ' + limits if limits else ''}{stop}"
            f"{' (paused)' if subscription.paused else ''}.")


def follow_form(provider_id: int, user: User) -> pn.viewable.Viewable:
    scaling = pn.widgets.Select(name="Scaling", options=SCALINGS)
    multiplier = pn.widgets.TextInput(name="Multiplier", value="1")
    limit = pn.widgets.TextInput(name="Largest copied position, any symbol (optional)", placeholder="e.g. 10")
    stop = pn.widgets.TextInput(name="Copy stop-loss in % (optional)", placeholder="e.g. 15")
    go = pn.widgets.Button(name="Follow", button_type="primary", width=160)
    result = pn.Column(sizing_mode="stretch_width")
    form = pn.Column(pn.pane.Markdown("### Follow"), scaling, multiplier, limit, stop, go, sizing_mode="stretch_width")

    @guarded(result, busy=go)
    def follow() -> None:
        largest = typed(limit.value, "The position limit")
        rules = CopyRules(scaling=Scaling(scaling.value), multiplier=typed(multiplier.value, "The multiplier")
                          or Decimal(1), position_limits={"*": largest} if largest is not None else {},
                          stop_loss_pct=typed(stop.value, "The stop-loss"))
        settings = context.settings()
        with context.session() as session:
            provider = providers.find(session, provider_id, user)
            cash = Money(settings.demo_starting_cash_minor, settings.demo_currency)
            account = accounts.own_paper_account(session, user, starting_cash=cash)
            subscription = subscriptions.subscribe(session, settings, payments(), user, provider, account.id, rules)
            text = describe(subscription)
        form.visible = False
        result[:] = [notice(text, kind="success", action=("Open your paper account", context.url("demo")))]

    go.on_click(lambda _event: follow())
    return pn.Column(form, result, sizing_mode="stretch_width")


def provider_page(provider_id: int) -> list[pn.viewable.Viewable]:
    viewer = context.viewer()
    with context.session() as session:
        provider = providers.find(session, provider_id, viewer.user)
        trader = session.get(User, provider.user_id)
        body = [_detail(providers.row(session, provider), trader.name if trader else ""),
                _history(session, provider)]
        subscription = _following(session, viewer.user, provider) if viewer.user is not None else None
    if viewer.user is None:
        body.append(notice(f"Log in to follow {provider.name}.", action=(
            "Log in", context.login_url(context.url("providers", id=provider_id)))))
    elif subscription is not None:
        body.append(notice(describe(subscription), kind="success"))
    else:
        body.append(follow_form(provider_id, viewer.user))
    return [pn.pane.HTML(f'<a href="{context.url("providers")}">← All signal providers</a>'), *body]


def page() -> pn.template.BaseTemplate:
    try:
        provider_id = _requested_id()
        if provider_id is not None:
            return shell("Signal providers", *provider_page(provider_id), active="providers")
    except Exception as error:
        return shell("Signal providers", problem(error), active="providers")
    body, sidebar = leaderboard()
    return shell("Signal providers", *body, active="providers", sidebar=sidebar)
