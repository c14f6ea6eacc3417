"""The API over HTTP (FastAPI's test client), authenticated by API keys, on every database backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from alphabook.accounts import service
from alphabook.accounts.models import ApiScope
from alphabook.api.main import create_app
from alphabook.core.config import Settings
from alphabook.core.db import Database


@pytest.fixture
def client(database: Database, tmp_path: object) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, database_url=database.url)
    with TestClient(create_app(settings, prefix="/services/api/")) as test_client:
        yield test_client


def _key(database: Database, name: str, scopes: list[ApiScope], expires_in_days: int | None = 30) -> str:
    with database.session() as session:
        user = service.ensure_user(session, name)
        _, secret = service.create_api_key(session, user, name="test", scopes=scopes, expires_in_days=expires_in_days)
    return secret


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _assert_problem(reply: Response, status: int, detail_part: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert body["status"] == status and detail_part in str(body["detail"])
    return body


def test_health_reports_the_database(client: TestClient, database: Database) -> None:
    reply = client.get("/services/api/api/health")
    assert reply.status_code == 200
    assert reply.json()["database"] == database.engine.dialect.name


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/services/api/api/docs").status_code == 200
    paths = client.get("/services/api/api/openapi.json").json()["paths"]
    assert {"/services/api/api/me", "/services/api/api/keys", "/services/api/api/keys/{key_id}"} <= set(paths)


def test_no_credentials_is_401_with_how_to_authenticate(client: TestClient) -> None:
    body = _assert_problem(client.get("/services/api/api/me"), 401, "API key")
    assert body["type"] == "https://alphabook.dev/problems/unauthenticated"
    _assert_problem(client.get("/services/api/api/me", headers={"Authorization": "token abc"}), 401, "not accepted")
    _assert_problem(client.get("/services/api/api/me", headers=_auth("ab_00000000_nope")), 401, "not valid")


def test_me_with_an_api_key(client: TestClient, database: Database) -> None:
    reply = client.get("/services/api/api/me", headers=_auth(_key(database, "ivan", [ApiScope.READ])))
    assert reply.status_code == 200
    assert reply.json()["name"] == "ivan" and reply.json()["roles"] == ["user"]


def test_read_only_key_cannot_write(client: TestClient, database: Database) -> None:
    secret = _key(database, "judy", [ApiScope.READ])
    reply = client.post("/services/api/api/keys", json={"name": "x"}, headers=_auth(secret))
    _assert_problem(reply, 403, "needs 'write'")


def test_key_management_round_trip(client: TestClient, database: Database) -> None:
    headers = _auth(_key(database, "mallory", [ApiScope.READ, ApiScope.WRITE]))
    created = client.post("/services/api/api/keys", headers=headers,
                          json={"name": "backtests", "scopes": ["read"], "expires_in_days": None})
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["key"].startswith(f"ab_{new['prefix']}_") and new["expires_at"] is None
    listed = client.get("/services/api/api/keys", headers=headers).json()
    assert [key["name"] for key in listed] == ["test", "backtests"]
    assert all("key" not in key for key in listed)
    assert client.get("/services/api/api/me", headers=_auth(new["key"])).json()["name"] == "mallory"
    assert client.delete(f"/services/api/api/keys/{new['id']}", headers=headers).status_code == 204
    _assert_problem(client.delete(f"/services/api/api/keys/{new['id']}", headers=headers), 404, str(new["id"]))
    _assert_problem(client.get("/services/api/api/me", headers=_auth(new["key"])), 401, "not valid")


def test_invalid_body_names_the_field(client: TestClient, database: Database) -> None:
    headers = _auth(_key(database, "niaj", [ApiScope.READ, ApiScope.WRITE]))
    reply = client.post("/services/api/api/keys", headers=headers, json={"name": "", "scopes": ["bogus"]})
    body = _assert_problem(reply, 422, "scopes")
    assert {error["field"] for error in body["errors"]} == {"name", "scopes.0"}


def test_someone_elses_key_is_not_found(client: TestClient, database: Database) -> None:
    owner = _auth(_key(database, "olivia", [ApiScope.READ, ApiScope.WRITE]))
    other = _auth(_key(database, "peggy", [ApiScope.READ, ApiScope.WRITE]))
    key_id = client.get("/services/api/api/keys", headers=owner).json()[0]["id"]
    _assert_problem(client.delete(f"/services/api/api/keys/{key_id}", headers=other), 404, "no API key")
    assert len(client.get("/services/api/api/keys", headers=owner).json()) == 1


def test_audit_log_is_for_admins_only(client: TestClient, database: Database) -> None:
    user = _auth(_key(database, "sybil", [ApiScope.READ, ApiScope.WRITE]))
    _assert_problem(client.get("/services/api/api/audit", headers=user), 403, "'admin' role")
    with database.session() as session:
        service.ensure_user(session, "victor", roles=["user", "creator", "admin"])
    admin = _auth(_key(database, "victor", [ApiScope.READ]))
    created = client.post("/services/api/api/keys", headers=user, json={"name": "audited"}).json()
    rows = client.get("/services/api/api/audit", headers=admin,
                      params={"subject": f"api_key:{created['prefix']}"}).json()
    assert [(row["actor"], row["action"], row["data"]["name"]) for row in rows] == [
        ("sybil", "api_key.created", "audited")
    ]
    first_page = client.get("/services/api/api/audit", headers=admin, params={"limit": 1}).json()
    after = client.get("/services/api/api/audit", headers=admin, params={"after_id": first_page[0]["id"]}).json()
    assert len(first_page) == 1 and all(row["id"] > first_page[0]["id"] for row in after)


def test_health_says_whether_creators_code_runs_isolated(database: Database, tmp_path: Path) -> None:
    isolated = Settings(home=tmp_path, database_url=database.url)
    weaker = Settings(home=tmp_path, database_url=database.url, sandbox_mode="unsandboxed-limits-only")
    missing = Settings(home=tmp_path, database_url=database.url, sandbox_bwrap_path="/nonexistent/bwrap")
    with TestClient(create_app(isolated)) as client:
        sandbox = client.get("/api/health").json()["sandbox"]
        assert sandbox["isolated"] is True and sandbox["warning"] is None
    with TestClient(create_app(weaker)) as client:
        sandbox = client.get("/api/health").json()["sandbox"]
        assert sandbox["isolated"] is False and "WITHOUT OS isolation" in sandbox["warning"]
    with TestClient(create_app(missing)) as client:
        sandbox = client.get("/api/health").json()["sandbox"]
        assert sandbox["available"] is False and sandbox["reason"]
