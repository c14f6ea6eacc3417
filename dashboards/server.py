"""Serving the dashboards: Panel's server (Bokeh on Tornado) with every page, under the hub service's prefix.

JupyterHub starts ``python -m dashboards`` with ``JUPYTERHUB_SERVICE_URL`` (where to listen) and
``JUPYTERHUB_SERVICE_PREFIX`` (``/services/dashboards/``, which the proxy keeps in the path). Browsers reach it
through the hub's public address, so that is the websocket origin allowed.
"""

from __future__ import annotations

import logging
import os
import pkgutil
from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from urllib.parse import urlsplit

import panel as pn
from tornado import web

from dashboards import auth, context, pages


class _ToExplore(web.RequestHandler):
    def get(self) -> None:
        self.redirect(context.url("explore"))


def _pages() -> list[ModuleType]:
    """Every module of ``dashboards.pages``: its ``page()`` is served at its name, and its ``ROUTES``, if any
    (Tornado handlers for what a websocket session cannot do, like setting a cookie), beside it."""
    return [import_module(f"dashboards.pages.{info.name}") for info in pkgutil.iter_modules(pages.__path__)]


def _builders(modules: list[ModuleType]) -> dict[str, Callable[[], object]]:
    return {module.__name__.rpartition(".")[2]: module.page for module in modules}


def _routes(modules: list[ModuleType]) -> list[tuple[str, type[web.RequestHandler]]]:
    return [route for module in modules for route in getattr(module, "ROUTES", [])]


def _origins() -> list[str]:
    settings = context.settings()
    public = urlsplit(settings.base_url)
    origins = {public.netloc, f"127.0.0.1:{settings.hub_port}", f"localhost:{settings.hub_port}"}
    return sorted(origins)


def main() -> None:
    settings = context.settings()
    logging.basicConfig(level=settings.log_level)
    service = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{settings.dashboards_port}"))
    prefix = context.prefix().rstrip("/")
    pn.extension(loading_indicator=True, notifications=True, sizing_mode="stretch_width")
    modules = _pages()
    pn.serve(_builders(modules), address=service.hostname or "127.0.0.1",
             port=service.port or settings.dashboards_port, prefix=prefix, show=False, start=True, title="alphabook",
             allow_websocket_origin=_origins(),
             extra_patterns=[*auth.patterns(), *_routes(modules), ("/?", _ToExplore)],
             check_unused_sessions=10_000, unused_session_lifetime=60_000)
