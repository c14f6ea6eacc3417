"""Who may act on a trading account: its owner (or an admin) when signed in, or the holder of a demo's cookie.

A demo account has no user: the browser that made it holds a random token in an HTTP-only cookie, and only the
token's SHA-256 is stored, so a database leak does not hand out accounts. An account the caller may not see
is "not found", never "forbidden", so ids cannot be probed. Reading is allowed whatever the account's state;
changing anything needs an active account (:data:`WritableAccountDep`): an expired demo is read-only from the
moment its time is up, whether or not the expiry job has run yet.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from alphabook.accounts.models import Role, User
from alphabook.api.deps import OptionalUser, SessionDep
from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict, NotFound
from alphabook.trading import accounts
from alphabook.trading.accounts import demo_token_digest
from alphabook.trading.intake import Intake
from alphabook.trading.models import AccountStatus, TradingAccount

__all__ = ["DEMO_COOKIE", "AccountDep", "DemoDep", "IntakeDep", "WritableAccountDep", "demo_token_digest", "may_use"]

DEMO_COOKIE = "alphabook_demo"


def may_use(account: TradingAccount, user: User | None, demo_token: str | None) -> bool:
    if user is not None and (account.owner_id == user.id or user.has_role(Role.ADMIN.value)):
        return True
    return (account.demo_token_hash is not None and demo_token is not None
            and hmac.compare_digest(account.demo_token_hash, demo_token_digest(demo_token)))


def get_account(account_id: int, request: Request, session: SessionDep, user: OptionalUser) -> TradingAccount:
    account = session.get(TradingAccount, account_id)
    if account is None or not may_use(account, user, request.cookies.get(DEMO_COOKIE)):
        raise NotFound(f"No trading account {account_id} of yours.")
    return account


def get_writable_account(account: Annotated[TradingAccount, Depends(get_account)]) -> TradingAccount:
    status = accounts.effective_status(account, utcnow())
    if status != AccountStatus.ACTIVE:
        raise Conflict(f"Account {account.id} is {status.replace('_', '-')}: it trades nothing and changes nothing. "
                       "An expired demo comes back when you renew it with your email.")
    return account


def get_demo(request: Request, session: SessionDep) -> TradingAccount:
    """The demo this browser's cookie opens (read-only ones too, so that they can be renewed)."""
    account = accounts.find_demo(session, request.cookies.get(DEMO_COOKIE))
    if account is None:
        raise NotFound("This browser holds no demo account (or it was upgraded or deleted); open one with "
                       "POST api/demo.")
    return account


AccountDep = Annotated[TradingAccount, Depends(get_account)]
WritableAccountDep = Annotated[TradingAccount, Depends(get_writable_account)]
DemoDep = Annotated[TradingAccount, Depends(get_demo)]


async def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(get_intake)]
