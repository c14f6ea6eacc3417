"""alphabook's JupyterLab extension: the Publish button, the Marketplace sidebar, and their server side.

The browser part is the prebuilt labextension in ``labextension/`` (TypeScript in ``../src``); the server
part (:mod:`alphabook_jupyterlab.handlers`) answers it under ``<base_url>alphabook/`` and talks to the
alphabook API with the person's own hub token, through the SDK's client and publishing code.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_labextension_paths", "_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "alphabook-jupyterlab"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "alphabook_jupyterlab"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from alphabook_jupyterlab.handlers import register

    register(server_app.web_app)
    server_app.log.info("alphabook: Publish and Marketplace endpoints at %salphabook/",
                        server_app.web_app.settings["base_url"])
