"""Webhook order routing: TradingView and signed alerts in, hooks and their secrets, limits and kill switches.

``POST /api/hooks/{hook_id}`` is public: no session cookie or API key, the hook's secret authenticates (see
:mod:`alphabook.trading.alerts`); the body is read raw, because signatures cover its exact bytes. It answers
with the decision at once (the order is sent by the dispatcher), and a refusal as problem+json saying why.
The other routes belong to the account's owner (or an administrator, or the demo's cookie holder).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError

from alphabook.api.deps import OptionalUser, SessionDep, SettingsDep
from alphabook.api.problems import problem
from alphabook.api.trading_deps import AccountDep, IntakeDep, WritableAccountDep
from alphabook.core.errors import TemporaryError
from alphabook.trading import alerts, hooks, risk
from alphabook.trading.accounts import actor_for
from alphabook.trading.credentials import cipher_for
from alphabook.trading.models import AlertDecision, Hook
from alphabook.trading.risk import RiskLimitsIn
from alphabook.trading.schemas import (
    AccountRiskOut,
    AlertDecisionOut,
    AlertOut,
    HookCreate,
    HookOut,
    HookPatch,
    HookWithSecret,
    KillSwitchIn,
    RotateIn,
)

router = APIRouter(tags=["hooks"])
HOOKS = "/accounts/{account_id}/hooks"


@router.post("/hooks/{hook_id}", response_model=AlertDecisionOut,
             responses={401: {"description": "Not authenticated (forged, stale)"},
                        403: {"description": "Refused: address, risk limit or kill switch"},
                        422: {"description": "Not an order"}})
async def receive_alert(hook_id: str, request: Request, intake: IntakeDep) -> Response:
    """Where TradingView (or any signed sender) posts alerts; answers with the decision (the order is sent after)."""
    delivery = alerts.Delivery(body=await request.body(), headers=request.headers,
                               peer=request.client.host if request.client else None)
    try:
        outcome = await intake.decide(hook_id, delivery)
    except OperationalError as error:  # SQLite's write lock stayed taken past its busy timeout
        raise TemporaryError("The database is busy; nothing was recorded. Send the alert again.",
                             retry_after=1) from error
    if outcome.refusal is not None:
        refusal = outcome.refusal
        return problem(request, status=refusal.status, slug=refusal.slug, title=refusal.title, detail=refusal.detail,
                       alert_id=outcome.alert_id, decision=outcome.decision.value, **refusal.extra)
    order = outcome.order
    answer = AlertDecisionOut(decision="accepted" if outcome.decision is AlertDecision.ACCEPTED else "duplicate",
                              alert_id=outcome.alert_id, order_id=order.id if order else None,
                              client_order_id=order.client_order_id if order else None,
                              state=order.state if order else None, duplicate_of=outcome.duplicate_of)
    return JSONResponse(answer.model_dump(mode="json"))  # the commit wakes the dispatcher (trading.outbox)


def _url(request: Request, hook: Hook) -> str:
    return str(request.url_for("receive_alert", hook_id=hook.id))


@router.get(HOOKS, response_model=list[HookOut])
def list_hooks(account: AccountDep, request: Request, session: SessionDep) -> list[HookOut]:
    return [HookOut.of(hook, _url(request, hook)) for hook in hooks.hooks_of(session, account)]


@router.post(HOOKS, response_model=HookWithSecret, status_code=status.HTTP_201_CREATED)
def create_hook(body: HookCreate, account: WritableAccountDep, user: OptionalUser, request: Request,
                session: SessionDep, settings: SettingsDep) -> HookWithSecret:
    """A new hook; its secret is in this answer only."""
    limits = body.limits.model_dump(mode="json", exclude_none=True) if body.limits else None
    made = hooks.create(session, cipher_for(settings), account, actor=actor_for(account, user), name=body.name,
                        format=body.format, live=body.live, allowed_ips=body.allowed_ips, limits=limits)
    return HookWithSecret.with_secret(made.hook, _url(request, made.hook), made.secret)


@router.get(HOOKS + "/{hook_id}", response_model=HookOut)
def get_hook(hook_id: str, account: AccountDep, request: Request, session: SessionDep) -> HookOut:
    hook = hooks.get_hook(session, account, hook_id)
    return HookOut.of(hook, _url(request, hook))


@router.patch(HOOKS + "/{hook_id}", response_model=HookOut)
def update_hook(hook_id: str, body: HookPatch, account: WritableAccountDep, user: OptionalUser, request: Request,
                session: SessionDep) -> HookOut:
    hook = hooks.update(session, hooks.get_hook(session, account, hook_id), actor=actor_for(account, user),
                        name=body.name, allowed_ips=body.allowed_ips, live=body.live,
                        limits=body.limits.model_dump(mode="json", exclude_none=True) if body.limits else None)
    return HookOut.of(hook, _url(request, hook))


@router.post(HOOKS + "/{hook_id}/rotate", response_model=HookWithSecret)
def rotate_secret(hook_id: str, body: RotateIn, account: WritableAccountDep, user: OptionalUser, request: Request,
                  session: SessionDep, settings: SettingsDep) -> HookWithSecret:
    """A new secret, shown once; the previous one is accepted for ``overlap_seconds`` more."""
    overlap = timedelta(seconds=body.overlap_seconds if body.overlap_seconds is not None
                        else settings.trading_secret_overlap_seconds)
    made = hooks.rotate_secret(session, cipher_for(settings), hooks.get_hook(session, account, hook_id),
                               actor=actor_for(account, user), overlap=overlap)
    return HookWithSecret.with_secret(made.hook, _url(request, made.hook), made.secret)


@router.delete(HOOKS + "/{hook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_hook(hook_id: str, account: AccountDep, user: OptionalUser, session: SessionDep) -> None:
    hooks.delete(session, hooks.get_hook(session, account, hook_id), actor=actor_for(account, user))


@router.post(HOOKS + "/{hook_id}/kill-switch", response_model=HookOut)
def trip_hook(hook_id: str, body: KillSwitchIn, account: AccountDep, user: OptionalUser, request: Request,
              session: SessionDep) -> HookOut:
    """Stop the hook: it places nothing until re-armed. Allowed on read-only accounts too (stopping always is)."""
    hook = hooks.get_hook(session, account, hook_id)
    risk.trip_hook(session, hook, actor=actor_for(account, user), reason=body.reason)
    return HookOut.of(hook, _url(request, hook))


@router.delete(HOOKS + "/{hook_id}/kill-switch", response_model=HookOut)
def rearm_hook(hook_id: str, account: WritableAccountDep, user: OptionalUser, request: Request,
               session: SessionDep) -> HookOut:
    """Re-arm the hook's kill switch: a person's decision, recorded in the audit log."""
    hook = hooks.get_hook(session, account, hook_id)
    risk.rearm_hook(session, hook, actor=actor_for(account, user))
    return HookOut.of(hook, _url(request, hook))


@router.get("/accounts/{account_id}/risk", response_model=AccountRiskOut)
def account_risk(account: AccountDep) -> AccountRiskOut:
    return AccountRiskOut.of(account)


@router.put("/accounts/{account_id}/limits", response_model=AccountRiskOut)
def set_account_limits(body: RiskLimitsIn, account: WritableAccountDep, user: OptionalUser,
                       session: SessionDep) -> AccountRiskOut:
    """Replace the account's risk limits (they apply to every order: hooks, copies and manual ones)."""
    updated = risk.set_account_limits(session, account, body.model_dump(mode="json", exclude_none=True),
                                      actor=actor_for(account, user))
    return AccountRiskOut.of(updated)


@router.post("/accounts/{account_id}/kill-switch", response_model=AccountRiskOut)
def trip_account(body: KillSwitchIn, account: AccountDep, user: OptionalUser, session: SessionDep) -> AccountRiskOut:
    """Stop every new order of the account until a person re-arms it."""
    risk.trip_account(session, account, actor=actor_for(account, user), reason=body.reason)
    return AccountRiskOut.of(account)


@router.delete("/accounts/{account_id}/kill-switch", response_model=AccountRiskOut)
def rearm_account(account: WritableAccountDep, user: OptionalUser, session: SessionDep) -> AccountRiskOut:
    risk.rearm_account(session, account, actor=actor_for(account, user))
    return AccountRiskOut.of(account)


@router.get("/accounts/{account_id}/alerts", response_model=list[AlertOut])
def list_alerts(account: AccountDep, session: SessionDep, hook_id: str | None = None,
                decision: Annotated[str | None, Query(pattern="^(accepted|duplicate|refused)$")] = None,
                before_id: Annotated[int | None, Query(ge=1, description="Older than this alert (paging).")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[AlertOut]:
    """Every alert the account's hooks received, newest first, with the decision and its reason."""
    rows = hooks.alerts_of(session, account, hook_id=hook_id, decision=decision, before_id=before_id, limit=limit)
    return [AlertOut.of(row) for row in rows]
