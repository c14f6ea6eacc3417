"""The AI strategy assistant: provider settings, sentence → strategy, usage and credits, and an
OpenAI-compatible chat endpoint (``/api/ai/v1``) through which jupyter-ai uses the person's own providers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import StreamingResponse

from alphabook.accounts import service as accounts
from alphabook.accounts.models import Role, User
from alphabook.ai import credits, pipeline, service
from alphabook.ai import router as chain
from alphabook.ai.schemas import (
    ChatRequest,
    CreditGrant,
    ProviderIn,
    ProviderOut,
    StrategyIn,
    StrategyOut,
    UsageOut,
    chat_chunks,
    chat_completion,
    model_list,
)
from alphabook.api.deps import CurrentUser, SessionDep, SettingsDep, require_role
from alphabook.api.marketplace_deps import ExecutorDep
from alphabook.core.errors import NotFound
from alphabook.marketplace.schemas import MoneyOut

router = APIRouter(prefix="/ai", tags=["ai"])
Admin = Annotated[User, Depends(require_role(Role.ADMIN))]


@router.get("/providers", response_model=list[ProviderOut])
def list_providers(user: CurrentUser, session: SessionDep) -> list[ProviderOut]:
    return [ProviderOut.of(row) for row in service.providers_of(session, user)]


@router.put("/providers/{name}", response_model=ProviderOut)
def save_provider(name: str, body: ProviderIn, user: CurrentUser, session: SessionDep,
                  settings: SettingsDep) -> ProviderOut:
    """Create or replace one of your providers; the key is stored encrypted and only its last 4 are shown."""
    change = service.ProviderChange(kind=body.kind, model=body.model, base_url=body.base_url, api_key=body.api_key,
                                    priority=body.priority)
    return ProviderOut.of(service.save_provider(session, user, name, change, settings))


@router.delete("/providers/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_provider(name: str, user: CurrentUser, session: SessionDep) -> None:
    service.delete_provider(session, user, name)


@router.post("/strategy", response_model=StrategyOut)
def make_strategy(body: StrategyIn, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                  executor: ExecutorDep) -> StrategyOut:
    """A sentence → strategy code, validated and run in the sandbox, backtested, with a chart."""
    return StrategyOut.of(pipeline.generate(session, user, body.sentence, settings, executor(),
                                            route=body.provider, symbol=body.symbol, timeframe=body.timeframe))


@router.get("/usage", response_model=list[UsageOut])
def my_usage(user: CurrentUser, session: SessionDep,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[UsageOut]:
    return [UsageOut.of(row) for row in service.usage_of(session, user, limit)]


@router.get("/credits", response_model=MoneyOut)
def my_credits(user: CurrentUser, session: SessionDep) -> MoneyOut:
    """What is left of your credits for the platform's managed model."""
    return MoneyOut.of(credits.credit_balance(session, user))


@router.post("/credits/grants", response_model=MoneyOut, status_code=status.HTTP_201_CREATED)
def grant_credits(body: CreditGrant, admin: Admin, session: SessionDep) -> MoneyOut:
    """An admin gives a person credits (audited with the reason); answers the person's new balance."""
    person = accounts.find_user(session, body.user)
    if person is None:
        raise NotFound(f"There is no user {body.user!r}.")
    credits.grant(session, person, body.amount.to_money(), admin.name, body.reason)
    return MoneyOut.of(credits.credit_balance(session, person))


@router.get("/v1/models")
def openai_models(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """OpenAI's model list: your chain ('alphabook') and each provider in it."""
    names = [route.name for route in chain.routes_for(session, user, settings)]
    return model_list([chain.DEFAULT_ROUTE, *names])


@router.post("/v1/chat/completions", response_model=None)
def openai_chat(body: ChatRequest, user: CurrentUser, session: SessionDep,
                settings: SettingsDep) -> dict[str, Any] | StreamingResponse:
    """OpenAI's chat completions, answered by your providers (metered and limited like the assistant)."""
    routed = chain.complete(session, user, [message.to_message() for message in body.messages], settings, "chat",
                             route=body.model)
    answer = chat_completion(routed, body.model)
    if not body.stream:
        return answer

    def events() -> Iterator[str]:
        for chunk in chat_chunks(answer):
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
