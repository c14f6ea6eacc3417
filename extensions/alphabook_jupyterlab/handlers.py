"""The server side of the Publish dialog and the Marketplace sidebar, under ``<base_url>alphabook/``.

Each handler reads what it needs from the person's server (the notebook, through the contents manager),
then calls the alphabook API as that person (:class:`alphabook.sdk.client.Client` with the hub token the
spawner gave this server) in a worker thread, so a ten-second sandbox validation never stalls JupyterLab.
Bodies are checked by pydantic; every error answers ``{"title", "detail", "status"}`` for the dialog to show.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join
from pydantic import BaseModel, Field, ValidationError
from tornado import web

from alphabook.core.errors import AlphabookError, InvalidInput, NotFound
from alphabook.core.money import Money
from alphabook.marketplace.text import parse_version
from alphabook.sdk import packaging, publishing
from alphabook.sdk.client import Client

__all__ = ["CATEGORIES", "register"]

CATEGORIES = ("trend", "momentum", "volatility", "volume", "overlap", "cycle", "statistics", "candle patterns",
              "strategy", "other")
T = TypeVar("T")


class PublishIn(BaseModel):
    path: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=60)
    title: str = Field(min_length=3, max_length=120)
    category: str = Field(min_length=1, max_length=40)
    tags: list[str] = Field(default=[], max_length=12)
    price_minor: int = Field(default=0, ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)
    licence: Literal["open", "protected"] = "protected"
    version: str | None = None
    changelog: str = Field(default="", max_length=10_000)
    submit: bool = True


class AlphabookHandler(APIHandler):
    """Runs API calls off the event loop and turns alphabook's errors into JSON problems."""

    def client(self) -> Client:
        client: Client | None = self.settings.get("alphabook_client")
        if client is None:
            client = self.settings["alphabook_client"] = Client.from_environment()
        return client

    async def off_loop(self, call: Callable[[], T]) -> T:
        return await asyncio.to_thread(call)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        detail = getattr(error, "log_message", None) or str(error or self._reason)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"title": self._reason, "detail": detail, "status": status_code}))

    async def answer(self, work: Callable[[], Any]) -> None:
        try:
            self.finish(json.dumps(await work()))
        except AlphabookError as error:
            raise web.HTTPError(error.status, error.detail.replace("%", "%%")) from None

    async def notebook(self, path: str) -> dict[str, Any]:
        try:
            model = await ensure_async(self.contents_manager.get(path, content=True, type="notebook"))  # type: ignore[no-untyped-call]
        except web.HTTPError as error:
            raise NotFound(f"Cannot open the notebook {path}: {error.log_message}") from None
        content: dict[str, Any] = json.loads(json.dumps(model["content"]))
        return content


class DraftHandler(AlphabookHandler):
    """What the Publish dialog starts from: the notebook's function, parameters and description, and the listing."""

    @web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path")

        async def draft() -> dict[str, Any]:
            package = packaging.from_notebook(await self.notebook(path), path)
            existing = await self.off_loop(lambda: publishing.find_listing(self.client(), package.name))
            versions = [each["version"] for each in existing["versions"]] if existing else []
            price = existing["price"] if existing else {"amount_minor": 0, "currency": "USD"}
            return {
                "path": path, "kind": package.kind, "name": package.name,
                "title": existing["title"] if existing else package.title,
                "description": package.description, "category": existing["category"] if existing else "other",
                "tags": existing["tags"] if existing else [],
                "price": {"amount_minor": price["amount_minor"], "currency": price["currency"]},
                "licence": existing["licence"] if existing else "protected",
                "parameters": package.parameter_schema, "problems": list(package.problems),
                "listing": {"slug": existing["slug"], "status": existing["status"], "title": existing["title"],
                            "latest_version": max(versions, key=parse_version) if versions else None}
                if existing else None,
                "next_version": publishing.next_version(versions), "categories": list(CATEGORIES)}

        await self.answer(draft)


class PublishHandler(AlphabookHandler):
    """Validate the notebook's package in the sandbox; if it passes, create or update the listing and submit."""

    @web.authenticated
    async def post(self) -> None:
        try:
            body = PublishIn.model_validate_json(self.request.body or b"{}")
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
            raise web.HTTPError(422, f"The publish request is not valid: {problems}") from None

        async def publish() -> dict[str, Any]:
            package = packaging.from_notebook(await self.notebook(body.path), body.path)
            if package.kind not in ("indicator", "strategy"):
                raise InvalidInput("Only indicators and strategies are published from a notebook's tagged cell.")
            listing = publishing.Listing(name=body.name, title=body.title, description=package.description,
                                         category=body.category, tags=body.tags,
                                         price=Money(body.price_minor, body.currency), licence=body.licence)
            report = await self.off_loop(lambda: publishing.publish_package(
                self.client(), package, listing, version=body.version or None, changelog=body.changelog,
                submit=body.submit))
            return report.to_dict()

        await self.answer(publish)


class MarketplaceHandler(AlphabookHandler):
    @web.authenticated
    async def get(self) -> None:
        query = {"q": self.get_query_argument("q", ""), "kind": self.get_query_argument("kind", "") or None,
                 "limit": 50}
        await self.answer(lambda: self.off_loop(lambda: {"items": self.client().get("/listings", **query)["items"]}))


class LibraryHandler(AlphabookHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.answer(lambda: self.off_loop(lambda: {"items": self.client().get("/library")}))


def register(web_app: Any) -> None:
    base = url_path_join(web_app.settings["base_url"], "alphabook")
    web_app.add_handlers(".*$", [(url_path_join(base, name), handler) for name, handler in (
        ("draft", DraftHandler), ("publish", PublishHandler), ("marketplace", MarketplaceHandler),
        ("library", LibraryHandler))])
