"""RFC 9457 problem documents: every error the API returns is application/problem+json."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from alphabook.api.problems import PROBLEM_JSON, TYPE_BASE, install
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TemporaryError, Unauthenticated


class Notebook(BaseModel):
    name: str = Field(min_length=1)
    pages: int


def _app() -> FastAPI:
    app = FastAPI()
    install(app)

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("There is no notebook 42.")

    @app.get("/forbidden")
    def forbidden() -> None:
        raise Forbidden("Only the owner may publish this notebook.")

    @app.get("/private")
    def private() -> None:
        raise Unauthenticated("Log in or send an API key.")

    @app.get("/invalid")
    def invalid() -> None:
        raise InvalidInput("The symbol must be upper case.", field="x")

    @app.get("/conflict")
    def conflict() -> None:
        raise Conflict("A notebook with that name already exists.")

    @app.get("/later")
    def later() -> None:
        raise TemporaryError("The exchange is not answering; try again in a minute.")

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=418, detail="Short and stout.")

    @app.post("/notebooks")
    def create(notebook: Notebook) -> dict[str, str]:
        return {"name": notebook.name}

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def _assert_problem(response_status: int, body: dict[str, object], *, status: int, slug: str, path: str) -> None:
    assert response_status == status
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["type"] == TYPE_BASE + slug
    assert body["status"] == status
    assert body["instance"] == path
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]


@pytest.mark.parametrize(
    ("path", "status", "slug", "title", "detail"),
    [
        ("/missing", 404, "not-found", "Not found", "There is no notebook 42."),
        ("/forbidden", 403, "forbidden", "Forbidden", "Only the owner may publish this notebook."),
        ("/private", 401, "unauthenticated", "Authentication required", "Log in or send an API key."),
        ("/invalid", 422, "invalid-input", "Invalid input", "The symbol must be upper case."),
        ("/conflict", 409, "conflict", "Conflict", "A notebook with that name already exists."),
        (
            "/later",
            503,
            "temporary",
            "Temporarily unavailable",
            "The exchange is not answering; try again in a minute.",
        ),
    ],
)
def test_alphabook_errors_become_problems(
    client: TestClient, path: str, status: int, slug: str, title: str, detail: str
) -> None:
    response = client.get(path)
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert PROBLEM_JSON == "application/problem+json"
    body = response.json()
    _assert_problem(response.status_code, body, status=status, slug=slug, path=path)
    assert body["title"] == title
    assert body["detail"] == detail


def test_extra_error_fields_are_included(client: TestClient) -> None:
    body = client.get("/invalid").json()
    assert body["field"] == "x"


def test_unauthenticated_carries_www_authenticate(client: TestClient) -> None:
    response = client.get("/private")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/missing", "/forbidden", "/invalid"])
def test_other_errors_do_not_ask_for_authentication(client: TestClient, path: str) -> None:
    assert "www-authenticate" not in client.get(path).headers


def test_body_validation_error_lists_the_bad_field(client: TestClient) -> None:
    response = client.post("/notebooks", json={"name": "alpha", "pages": "many"})
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    _assert_problem(response.status_code, body, status=422, slug="invalid-input", path="/notebooks")
    assert body["title"] == "Invalid input"
    errors = body["errors"]
    assert isinstance(errors, list)
    assert [error["field"] for error in errors] == ["pages"]
    assert errors[0]["message"]
    assert "pages" in body["detail"]
    assert body["detail"].startswith("The request is not valid:")


def test_validation_error_lists_every_bad_field(client: TestClient) -> None:
    response = client.post("/notebooks", json={"name": ""})
    assert response.status_code == 422
    body = response.json()
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"name", "pages"}
    assert "name" in body["detail"]
    assert "pages" in body["detail"]


def test_missing_body_is_a_problem(client: TestClient) -> None:
    response = client.post("/notebooks")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["errors"]
    assert all(error["field"] for error in body["errors"])


def test_unknown_path_is_a_problem(client: TestClient) -> None:
    response = client.get("/no/such/thing")
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    _assert_problem(response.status_code, body, status=404, slug="not-found", path="/no/such/thing")
    assert body["title"] == "Not Found"
    assert "/no/such/thing" in body["detail"]


def test_wrong_method_is_a_problem(client: TestClient) -> None:
    response = client.delete("/missing")
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    _assert_problem(response.status_code, body, status=405, slug="method-not-allowed", path="/missing")
    assert body["title"] == "Method Not Allowed"


def test_wrong_method_keeps_the_allow_header(client: TestClient) -> None:
    response = client.delete("/missing")
    assert response.status_code == 405
    assert "GET" in response.headers.get("allow", "")


def test_plain_http_exception_is_a_problem(client: TestClient) -> None:
    response = client.get("/teapot")
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    _assert_problem(response.status_code, body, status=418, slug="http", path="/teapot")
    assert body["detail"] == "Short and stout."


def test_successful_requests_are_untouched(client: TestClient) -> None:
    response = client.post("/notebooks", json={"name": "alpha", "pages": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"name": "alpha"}
