"""Trading accounts: demo accounts in one click, renewal, upgrade, and a signed-in trader's accounts, with the
watchlists and saved strategies each account keeps.

The demo's cookie is HTTP-only and SameSite=Lax (a cross-site form cannot renew or upgrade someone's demo),
``Secure`` as the settings say, scoped to this service's path, and kept by the browser until the demo may be
deleted (its expiry plus the read-only period), so an expired demo can still be seen and renewed. Opening
demos is rate-limited per client address; uvicorn takes the address from the hub proxy's ``X-Forwarded-For``
only when the connection comes from a trusted proxy (``--forwarded-allow-ips``, 127.0.0.1 by default).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from alphabook.accounts.hub_identity import HubIdentity
from alphabook.api.deps import CurrentUser, OptionalUser, SessionDep, SettingsDep
from alphabook.api.ratelimit import count_demo_opening
from alphabook.api.trading_deps import DEMO_COOKIE, AccountDep, DemoDep, WritableAccountDep
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.money import Money
from alphabook.trading import accounts, watchlists
from alphabook.trading.account_schemas import (
    AccountOut,
    BrokerOut,
    BrokerRotateIn,
    DemoRenewIn,
    LiveAccountIn,
    PaperAccountIn,
    StrategyIn,
    StrategyOut,
    StrategyPatch,
    WatchlistIn,
    WatchlistOut,
    WatchlistPatch,
)
from alphabook.trading.brokers.registry import BrokerRegistry
from alphabook.trading.credentials import cipher_for
from alphabook.trading.models import TradingAccount

router = APIRouter(tags=["trading"])
WATCHLISTS = "/accounts/{account_id}/watchlists"
STRATEGIES = "/accounts/{account_id}/strategies"


# --- demo accounts ----------------------------------------------------------------------------------------


@router.post("/demo", response_model=AccountOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "This browser's demo is still active: it is returned, not a new one."}})
def open_demo(request: Request, response: Response, session: SessionDep, settings: SettingsDep) -> AccountOut:
    """Open a demo account with virtual cash, no signup: the answer sets the cookie that opens it."""
    now = utcnow()
    existing = accounts.find_demo(session, request.cookies.get(DEMO_COOKIE))
    if existing is not None and accounts.is_writable(existing, now):
        response.status_code = status.HTTP_200_OK
        return AccountOut.of(existing, settings, now)
    _count_demo_opening(request, settings)
    account, token = accounts.open_demo(session, settings)
    _set_demo_cookie(request, response, settings, account, token)
    return AccountOut.of(account, settings, now)


@router.get("/demo", response_model=AccountOut)
def my_demo(demo: DemoDep, settings: SettingsDep) -> AccountOut:
    """This browser's demo, with the days it has left."""
    return AccountOut.of(demo, settings, utcnow())


@router.post("/demo/renew", response_model=AccountOut)
def renew_demo(body: DemoRenewIn, demo: DemoDep, request: Request, response: Response, session: SessionDep,
               settings: SettingsDep) -> AccountOut:
    """Keep this browser's demo another period from today by giving an email; an expired one comes back."""
    account = accounts.renew(session, settings, demo, body.email)
    token = request.cookies[DEMO_COOKIE]  # DemoDep found the account by it
    _set_demo_cookie(request, response, settings, account, token)
    return AccountOut.of(account, settings, utcnow())


@router.post("/demo/upgrade", response_model=AccountOut)
def upgrade_demo(demo: DemoDep, user: CurrentUser, request: Request, response: Response, session: SessionDep,
                 settings: SettingsDep) -> AccountOut:
    """Make this browser's demo your own paper account, with everything in it; the demo cookie is cleared."""
    account = accounts.upgrade(session, demo, user)
    response.delete_cookie(DEMO_COOKIE, path=_cookie_path(request), secure=settings.demo_cookie_is_secure,
                           httponly=True, samesite="lax")
    return AccountOut.of(account, settings, utcnow())


# --- a trader's accounts ----------------------------------------------------------------------------------


@router.get("/accounts", response_model=list[AccountOut])
def my_accounts(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> list[AccountOut]:
    now = utcnow()
    return [AccountOut.of(account, settings, now) for account in accounts.list_accounts(session, user)]


@router.post("/accounts", response_model=AccountOut, status_code=status.HTTP_201_CREATED)
def open_paper_account(body: PaperAccountIn, user: CurrentUser, session: SessionDep,
                       settings: SettingsDep) -> AccountOut:
    """Open a paper account; without ``starting_cash`` it starts with what a demo does."""
    cash = (body.starting_cash.to_money() if body.starting_cash is not None
            else Money(settings.demo_starting_cash_minor, settings.demo_currency))
    account = accounts.open_paper_account(session, user, name=body.name, starting_cash=cash)
    return AccountOut.of(account, settings, utcnow())


@router.post("/accounts/live", response_model=AccountOut, status_code=status.HTTP_201_CREATED,
             responses={422: {"description": "Invalid input, or the venue refused the keys (nothing was saved)"},
                        503: {"description": "The venue could not be reached to check the keys (nothing was saved)"}})
def open_live_account(body: LiveAccountIn, user: CurrentUser, request: Request, session: SessionDep,
                      settings: SettingsDep) -> AccountOut:
    """Open an account at a real broker (its testnet or paper endpoint with ``sandbox``) with your API keys, which
    are checked at the venue first (unless ``verify`` is false), stored encrypted, and never shown again."""
    account = accounts.open_live_account(
        session, user, name=body.name, venue=body.venue, sandbox=body.sandbox, secrets=body.to_secrets(),
        cipher=cipher_for(settings), currency=body.currency, registry=_registry(request, settings, body.verify),
        custom_endpoints=settings.trading_custom_broker_endpoints)
    return AccountOut.of(account, settings, utcnow())


@router.get("/accounts/{account_id}/broker", response_model=BrokerOut)
def broker_of_account(account: AccountDep, session: SessionDep) -> BrokerOut:
    """The venue an account trades at and when its keys were connected; never the keys, nor any part of them."""
    credential, live = accounts.broker_connection(session, account)
    return BrokerOut.of(account, credential, live)


@router.put("/accounts/{account_id}/broker", response_model=BrokerOut,
            responses={422: {"description": "Invalid input, or the venue refused the keys (nothing was saved)"},
                       503: {"description": "The venue could not be reached to check the keys (nothing was saved)"}})
def connect_broker(body: BrokerRotateIn, account: WritableAccountDep, user: CurrentUser, request: Request,
                   session: SessionDep, settings: SettingsDep) -> BrokerOut:
    """Replace a live account's keys (rotation); only its owner may. The old keys are gone once this answers."""
    accounts.connect_broker(session, user, account, secrets=body.to_secrets(), cipher=cipher_for(settings),
                            sandbox=body.sandbox, registry=_registry(request, settings, body.verify),
                            custom_endpoints=settings.trading_custom_broker_endpoints)
    credential, live = accounts.broker_connection(session, account)
    return BrokerOut.of(account, credential, live)


@router.get("/accounts/{account_id}", response_model=AccountOut)
def account_detail(account: AccountDep, settings: SettingsDep) -> AccountOut:
    return AccountOut.of(account, settings, utcnow())


# --- watchlists -------------------------------------------------------------------------------------------


@router.get(WATCHLISTS, response_model=list[WatchlistOut])
def list_watchlists(account: AccountDep, session: SessionDep) -> list[WatchlistOut]:
    return [WatchlistOut.model_validate(row) for row in watchlists.watchlists_of(session, account)]


@router.post(WATCHLISTS, response_model=WatchlistOut, status_code=status.HTTP_201_CREATED)
def create_watchlist(body: WatchlistIn, account: WritableAccountDep, user: OptionalUser,
                     session: SessionDep) -> WatchlistOut:
    row = watchlists.create_watchlist(session, account, name=body.name, symbols=body.symbols,
                                      actor=accounts.actor_for(account, user))
    return WatchlistOut.model_validate(row)


@router.get(WATCHLISTS + "/{watchlist_id}", response_model=WatchlistOut)
def watchlist_detail(watchlist_id: int, account: AccountDep, session: SessionDep) -> WatchlistOut:
    return WatchlistOut.model_validate(watchlists.get_watchlist(session, account, watchlist_id))


@router.patch(WATCHLISTS + "/{watchlist_id}", response_model=WatchlistOut)
def update_watchlist(watchlist_id: int, body: WatchlistPatch, account: WritableAccountDep, user: OptionalUser,
                     session: SessionDep) -> WatchlistOut:
    row = watchlists.update_watchlist(session, watchlists.get_watchlist(session, account, watchlist_id),
                                      name=body.name, symbols=body.symbols, actor=accounts.actor_for(account, user))
    return WatchlistOut.model_validate(row)


@router.delete(WATCHLISTS + "/{watchlist_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_watchlist(watchlist_id: int, account: WritableAccountDep, user: OptionalUser, session: SessionDep) -> None:
    watchlists.delete_watchlist(session, watchlists.get_watchlist(session, account, watchlist_id),
                                actor=accounts.actor_for(account, user))


# --- saved strategies -------------------------------------------------------------------------------------


@router.get(STRATEGIES, response_model=list[StrategyOut])
def list_strategies(account: AccountDep, session: SessionDep) -> list[StrategyOut]:
    return [StrategyOut.of(row) for row in watchlists.strategies_of(session, account)]


@router.post(STRATEGIES, response_model=StrategyOut, status_code=status.HTTP_201_CREATED)
def save_strategy(body: StrategyIn, account: WritableAccountDep, user: OptionalUser,
                  session: SessionDep) -> StrategyOut:
    row = watchlists.save_strategy(session, account, name=body.name, kind=body.kind, listing=body.listing,
                                   version=body.version, path=body.path, params=body.params,
                                   actor=accounts.actor_for(account, user))
    return StrategyOut.of(row)


@router.get(STRATEGIES + "/{strategy_id}", response_model=StrategyOut)
def strategy_detail(strategy_id: int, account: AccountDep, session: SessionDep) -> StrategyOut:
    return StrategyOut.of(watchlists.get_strategy(session, account, strategy_id))


@router.patch(STRATEGIES + "/{strategy_id}", response_model=StrategyOut)
def update_strategy(strategy_id: int, body: StrategyPatch, account: WritableAccountDep, user: OptionalUser,
                    session: SessionDep) -> StrategyOut:
    row = watchlists.update_strategy(session, account, watchlists.get_strategy(session, account, strategy_id),
                                     name=body.name, version=body.version, path=body.path, params=body.params,
                                     actor=accounts.actor_for(account, user))
    return StrategyOut.of(row)


@router.delete(STRATEGIES + "/{strategy_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_strategy(strategy_id: int, account: WritableAccountDep, user: OptionalUser, session: SessionDep) -> None:
    watchlists.delete_strategy(session, watchlists.get_strategy(session, account, strategy_id),
                               actor=accounts.actor_for(account, user))


# --- helpers ------------------------------------------------------------------------------------------------


def _actor(account: TradingAccount, user: OptionalUser) -> str:
    return accounts.actor_for(account, user)


def _registry(request: Request, settings: Settings, verify: bool) -> BrokerRegistry | None:
    """What keys are checked with: brokers built as the dispatcher builds them (None: save unchecked)."""
    return BrokerRegistry(request.app.state.database, settings) if verify else None


def _cookie_path(request: Request) -> str:
    identity: HubIdentity = request.app.state.identity
    return identity.cookie_path


def _set_demo_cookie(request: Request, response: Response, settings: Settings, account: TradingAccount,
                     token: str) -> None:
    due = accounts.deletion_due(account, settings)
    max_age = max(0, int((due - utcnow()).total_seconds())) if due is not None else 0
    response.set_cookie(DEMO_COOKIE, token, max_age=max_age, path=_cookie_path(request), httponly=True,
                        samesite="lax", secure=settings.demo_cookie_is_secure)


def _count_demo_opening(request: Request, settings: Settings) -> None:
    count_demo_opening(request.app.state.limiter, settings, request.client.host if request.client else "unknown")
