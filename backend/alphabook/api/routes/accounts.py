"""Who am I, and my API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from alphabook.accounts import privacy, service
from alphabook.accounts.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, EraseIn, UserOut
from alphabook.api.deps import CurrentUser, SessionDep

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.get("/me/export")
def export_my_data(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Everything alphabook holds about you, as JSON."""
    return privacy.export(session, user)


@router.post("/me/erase", response_model=UserOut)
def erase_me(body: EraseIn, user: CurrentUser, session: SessionDep) -> UserOut:
    """Erase your personal data (money records stay, anonymised). Confirm with your user name."""
    return UserOut.model_validate(privacy.erase(session, user, confirm=body.confirm))


@router.post("/keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: ApiKeyCreate, user: CurrentUser, session: SessionDep) -> ApiKeyCreated:
    key, secret = service.create_api_key(
        session, user, name=body.name, scopes=body.scopes, expires_in_days=body.expires_in_days
    )
    return ApiKeyCreated.model_validate({**ApiKeyOut.model_validate(key).model_dump(), "key": secret})


@router.get("/keys", response_model=list[ApiKeyOut])
def list_keys(user: CurrentUser, session: SessionDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(key) for key in service.list_api_keys(session, user)]


@router.delete("/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_key(key_id: int, user: CurrentUser, session: SessionDep) -> None:
    service.revoke_api_key(session, user, key_id)
