"""The alphabook API: a FastAPI app that JupyterHub runs as the managed service ``api``.

Under the hub every path lives below the service prefix (``/services/api/``), which the hub passes in
``JUPYTERHUB_SERVICE_PREFIX``; run alone, the prefix is ``/``. So ``/api/me`` is reached at
``/services/api/api/me`` through the hub's proxy.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from alphabook import __version__
from alphabook.accounts.hub_identity import HubIdentity
from alphabook.api import problems
from alphabook.api.deps import BrowserLogin, IdentityDep
from alphabook.api.marketplace_deps import AppSandbox
from alphabook.api.ratelimit import build_limiter
from alphabook.api.routes import (
    accounts,
    admin,
    ai,
    audit,
    copy,
    health,
    hooks,
    jobs,
    marketplace,
    notifications,
    payments,
    portfolio,
    sentiment,
    trading,
)
from alphabook.core.config import Settings, get_settings
from alphabook.core.db import Database
from alphabook.core.errors import InvalidInput
from alphabook.notifications.delivery import Courier
from alphabook.payments.providers import build_provider
from alphabook.trading.intake import Intake
from alphabook.trading.outbox import Dispatcher

# Requests are matched against the routers in this order: the webhook hook, the busiest path by far (a burst of
# alerts), comes first instead of after 68 other routes. No path of another router matches one of its.
DOMAIN_ROUTERS: list[APIRouter] = [hooks.router, health.router, accounts.router, audit.router, marketplace.router,
                                   payments.router, admin.router, trading.router, portfolio.router,
                                   copy.router, jobs.router, notifications.router, sentiment.router,
                                   ai.router]


def create_app(settings: Settings | None = None, *, prefix: str | None = None) -> FastAPI:
    settings = settings or get_settings()
    prefix = prefix if prefix is not None else os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.dispatcher is not None:  # sends the orders alerts write (trading_dispatcher_in_api)
            app.state.dispatcher.start()
        if app.state.courier is not None:  # sends notifications after their commit (notifications_in_api)
            app.state.courier.start()
        yield
        if app.state.courier is not None:
            app.state.courier.stop()
        if app.state.dispatcher is not None:
            app.state.dispatcher.stop()
        app.state.sandbox.close()
        app.state.database.dispose()

    app = FastAPI(
        title="alphabook API",
        version=__version__,
        docs_url=f"{prefix}api/docs",
        openapi_url=f"{prefix}api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = Database(settings.effective_database_url)
    app.state.identity = HubIdentity(settings.token_cache_seconds)
    app.state.payments = build_provider(settings)
    app.state.limiter = build_limiter(settings.redis_url)
    app.state.sandbox = AppSandbox(settings)
    app.state.intake = Intake(app.state.database, settings)  # decides webhook alerts in batches (trading.intake)
    app.state.dispatcher = Dispatcher(app.state.database, settings) if settings.trading_dispatcher_in_api else None
    app.state.courier = Courier(app.state.database, settings) if settings.notifications_in_api else None
    problems.install(app)
    for router in DOMAIN_ROUTERS:
        app.include_router(router, prefix=f"{prefix}api")
    app.include_router(_oauth_router(), prefix=prefix.rstrip("/"))

    @app.exception_handler(BrowserLogin)
    async def send_to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BrowserLogin)
        identity: HubIdentity = request.app.state.identity
        response = RedirectResponse(exc.url, status_code=302)
        response.set_cookie(identity.state_cookie_name, exc.state, max_age=600, path=identity.cookie_path,
                            httponly=True, samesite="lax")
        return response

    return app


def create_server_app() -> FastAPI:
    """The app as ``alphabook api`` serves it, built in each worker process.

    What is alive once the app is built (modules, routes, mappers: ~400k objects) lives as long as the process, so
    it is frozen out of the collector's full walks; under a burst of alerts those walks made the slowest answers
    slower (receipt to fill at full load, p99: 530 -> 360 ms). Only here: a test process builds many apps and
    must be able to collect them."""
    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def _oauth_router() -> APIRouter:
    router = APIRouter(tags=["auth"], include_in_schema=False)

    @router.get("/")
    async def index(request: Request) -> dict[str, str]:
        """Where the hub's service link lands: point people at the documentation."""
        return {"service": "alphabook API", "version": __version__, "docs": f"{request.url.path}api/docs"}

    @router.get("/oauth_callback")
    async def oauth_callback(request: Request, identity: IdentityDep, code: str = "", state: str = "") -> Response:
        """Finish the hub OAuth handshake and keep the hub token in an HttpOnly cookie for this service."""
        if not code or not state:
            raise InvalidInput("The OAuth callback needs 'code' and 'state'; start again from the page you wanted.")
        if request.cookies.get(identity.state_cookie_name) != state:
            raise InvalidInput("The OAuth state does not match this browser's; start the login again.")
        token, next_url = await identity.finish_login(code, state)
        response = RedirectResponse(next_url, status_code=302)
        response.delete_cookie(identity.state_cookie_name, path=identity.cookie_path)
        response.set_cookie(identity.cookie_name, token, path=identity.cookie_path, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        return response

    return router


def __getattr__(name: str) -> FastAPI:
    """``alphabook.api.main:app`` is built on first access, so importing this module has no side effects."""
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
