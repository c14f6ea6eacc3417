"""Voila as the hub service ``voila``: notebooks (listing previews, run outputs) rendered as pages.

Voila does the rendering; what is ours is what makes it safe to put behind the hub:

* **Who is looking.** Voila signs nobody in by itself. jupyterhub's own ``JupyterHubIdentityProvider`` (the one
  single-user servers use) plugs into Voila's jupyter_server-style identity hook and runs the hub's OAuth with the
  service's ``JUPYTERHUB_*`` environment, so a page needs a person signed in to the hub (:class:`HubSignIn`).
* **Whose code runs.** Every page runs in the ``alphabook-sandbox`` kernel (#4: no network, no home, a fresh
  environment), whatever kernel the notebook names, over ipc sockets because the sandbox has its own loopback.
* **How many kernels.** A page view holds a kernel (about 95 MB) until the page closes or it is culled: idle
  kernels are culled after ``voila_cull_idle_seconds``, and each person may hold ``voila_kernels_per_user`` at once;
  one more is refused with a message saying so. ``voila_warm_kernels`` more are kept started for the next pages.
* **What leaves.** Pages show outputs only (Voila strips sources), and the contents API Voila exposes beside them
  answers for folders only (:class:`FolderContents`): a notebook's model would carry its code.
* **The hub's health check** reaches the service's root, which lists a directory (``<home>/voila``) and starts
  no kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import voila.app
from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from tornado import web
from tornado.ioloop import IOLoop
from traitlets import Int
from voila.tornado.contentshandler import VoilaContentsHandler
from voila.tornado.handler import TornadoVoilaHandler

from alphabook.core.config import get_settings

SANDBOX_KERNEL = "alphabook-sandbox"
_viewer: ContextVar[str | None] = ContextVar("voila_viewer", default=None)


class PerPersonKernels(AsyncMappingKernelManager):
    """Hands out sandbox kernels for whoever asked (see :class:`ViewerHandler`), at most ``per_person`` each, from
    a pool of ``warm`` kernels started ahead, so that a page does not wait for bubblewrap and Python to start.

    Sandbox kernels are interchangeable: the launcher gives each a fresh environment and no view of the notebook's
    folder, so one started before the request is the same as one started for it. Warm kernels belong to nobody,
    are never culled, and are replaced in the background as soon as one is taken.
    """

    per_person = Int(2, config=True, help="Kernels one person may hold at once (one per open page).")
    warm = Int(1, config=True, help="Sandbox kernels kept started and idle, ready for the next page.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owners: dict[str, str] = {}
        self.ready: list[str] = []
        self._filling: asyncio.Future[None] | None = None
        IOLoop.current().add_callback(self.keep_warm)  # once the server's loop runs: warm before the first page

    async def start_kernel(self, *, kernel_name: str | None = None,  # type: ignore[override]
                           **kwargs: Any) -> str:
        viewer = _viewer.get()
        if viewer is None:
            words = "Notebook pages are for people signed in to alphabook"
            raise web.HTTPError(403, words, reason=words)
        held = sum(1 for owner in self.owners.values() if owner == viewer)
        if held >= self.per_person:
            words = (f"You already have {held} notebook pages running, the most one person may: close one of them "
                     "(or wait a few minutes for it to stop) and reload")
            raise web.HTTPError(429, words, reason=words)  # Voila's error page shows the reason
        kernel_id = self.ready.pop(0) if self.ready else await self._start(**kwargs)
        self.owners[kernel_id] = viewer
        self.keep_warm()
        return kernel_id

    async def _start(self, **kwargs: Any) -> str:
        kernel_id: str = await super().start_kernel(kernel_name=SANDBOX_KERNEL, **kwargs)
        return kernel_id

    def keep_warm(self) -> None:
        """Start kernels in the background until ``warm`` are ready (one filler at a time)."""
        if self._filling is None or self._filling.done():
            self._filling = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        with contextlib.suppress(Exception):  # a failed start is retried by the next page's refill
            while len(self.ready) < self.warm:
                self.ready.append(await self._start())

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        if kernel_id not in self.ready:  # waiting idle is a warm kernel's job
            await super().cull_kernel_if_idle(kernel_id)

    def remove_kernel(self, kernel_id: str) -> Any:
        """Every way a kernel ends (page closed, culled, shut down) comes through here."""
        self.owners.pop(kernel_id, None)
        if kernel_id in self.ready:
            self.ready.remove(kernel_id)
        return super().remove_kernel(kernel_id)


class HubSignIn(JupyterHubIdentityProvider):  # type: ignore[misc]
    """jupyterhub's identity provider, with its OAuth callback and logout routes under the service's prefix (a
    single-user server mounts them under its base URL itself; Voila adds them as they are)."""

    def get_handlers(self) -> list[tuple[Any, ...]]:
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").rstrip("/")
        return [(prefix + pattern, *rest) for pattern, *rest in super().get_handlers()]


class ViewerHandler(TornadoVoilaHandler):  # type: ignore[misc]
    """Voila's page handler, telling the kernel manager whose page it is starting a kernel for."""

    @web.authenticated
    async def get(self, path: str | None = None) -> Any:
        _viewer.set(self.current_user.username)
        return await super().get(path)


class FolderContents(VoilaContentsHandler):  # type: ignore[misc]
    """Voila's contents API, for folders only: its tree page lists them, but a notebook's model holds its source,
    which protected listings never give away (the rendered page shows outputs only)."""

    @web.authenticated
    async def get(self, path: str = "") -> None:
        if not await ensure_async(self.contents_manager.dir_exists(path)):
            raise web.HTTPError(404, f"There is no folder {path!r}; open notebooks through their page.")
        await super().get(path)


def arguments() -> list[str]:
    """Voila's command line for this service, from the settings and the hub's environment."""
    settings = get_settings()
    root = settings.home / "voila"
    for folder in ("listings", "runs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/voila/")
    service = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{settings.voila_port}"))
    return [
        str(root), "--no-browser", f"--Voila.ip={service.hostname or '127.0.0.1'}",
        f"--Voila.port={service.port or settings.voila_port}",
        f"--Voila.base_url={prefix}", f"--Voila.server_url={prefix}",
        f"--Voila.identity_provider_class={HubSignIn.__module__}.HubSignIn",
        f"--VoilaConfiguration.multi_kernel_manager_class={PerPersonKernels.__module__}.PerPersonKernels",
        f"--PerPersonKernels.per_person={settings.voila_kernels_per_user}",
        f"--PerPersonKernels.warm={settings.voila_warm_kernels}",
        f"--PerPersonKernels.cull_idle_timeout={settings.voila_cull_idle_seconds}",
        "--PerPersonKernels.cull_interval=30", "--PerPersonKernels.cull_connected=True",
        "--VoilaConfiguration.show_tracebacks=False", "--KernelManager.transport=ipc",
    ]


def main() -> None:
    # The app builds its routes from these module-level names.
    voila.app.TornadoVoilaHandler = ViewerHandler
    voila.app.VoilaContentsHandler = FolderContents
    sys.argv = ["voila", *arguments()]
    voila.app.main()


if __name__ == "__main__":
    main()
