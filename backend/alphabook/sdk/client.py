"""The HTTP client shared by the notebook SDK and the JupyterLab server extension (httpx does the work).

Inside alphabook's JupyterHub nothing needs configuring: the hub gives every user server (and the kernels
it starts) ``JUPYTERHUB_API_TOKEN``, which the API accepts as the person's identity, and the spawner sets
``ALPHABOOK_API_URL`` to the API service. Elsewhere, ``ab.connect(url=..., api_key="ab_...")`` or the
``ALPHABOOK_API_URL`` and ``ALPHABOOK_API_KEY`` variables say where and who. The API's problem+json
answers come back as the same :mod:`alphabook.core.errors` classes the server raised, with its ``detail``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from alphabook.core.errors import (
    AlphabookError,
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    RejectedError,
    TemporaryError,
    Unauthenticated,
)

__all__ = ["Client", "connect", "current"]

_ERRORS: dict[int, type[AlphabookError]] = {
    400: InvalidInput, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict, 422: InvalidInput,
    502: RejectedError, 503: TemporaryError, 504: TemporaryError,
}


@dataclass
class Client:
    """One person's connection to the API: ``url`` is the API root (ending in ``/api``)."""

    url: str
    token: str = field(repr=False)
    timeout: float = 300.0
    _name: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=self.timeout,
                                  headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})

    @classmethod
    def from_environment(cls) -> Client:
        url = os.environ.get("ALPHABOOK_API_URL")
        token = os.environ.get("ALPHABOOK_API_KEY") or os.environ.get("JUPYTERHUB_API_TOKEN")
        if not url:
            raise ConfigurationError(
                "alphabook does not know where its API is: ALPHABOOK_API_URL is not set (alphabook's JupyterHub "
                "sets it). Call ab.connect(url='https://…/services/api/api', api_key='ab_…').")
        if not token:
            raise ConfigurationError(
                "No credentials: outside alphabook's JupyterHub, create an API key on the API's /api/keys and "
                "call ab.connect(api_key='ab_…') or set ALPHABOOK_API_KEY.")
        return cls(url=url, token=token)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None) -> Any:
        """The decoded JSON (or text) answer; an AlphabookError carrying the API's own explanation otherwise."""
        try:
            reply = self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            raise TemporaryError(f"Cannot reach the alphabook API at {self.url}: {exc}") from None
        if reply.is_success:
            if reply.status_code == 204:
                return None
            kind = reply.headers.get("content-type", "")
            return reply.json() if "json" in kind else reply.text
        raise _error_of(reply)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={key: value for key, value in params.items() if value is not None})

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=json, params=params or None)

    @property
    def username(self) -> str:
        if self._name is None:
            self._name = str(self.get("/me")["name"])
        return self._name

    def close(self) -> None:
        self._http.close()


def _error_of(reply: httpx.Response) -> AlphabookError:
    try:
        body = reply.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, str):
        detail = f"The alphabook API answered {reply.status_code}: {reply.text[:300]}"
    if reply.status_code == 429:
        return RateLimited(detail, retry_after=int(reply.headers.get("Retry-After", "1")))
    return _ERRORS.get(reply.status_code, AlphabookError)(detail)


_default: Client | None = None
_default_lock = threading.Lock()


def connect(url: str | None = None, *, api_key: str | None = None, token: str | None = None) -> Client:
    """Use this API and these credentials from now on (the environment fills in what is not given)."""
    global _default
    url = url or os.environ.get("ALPHABOOK_API_URL")
    credential = api_key or token or os.environ.get("ALPHABOOK_API_KEY") or os.environ.get("JUPYTERHUB_API_TOKEN")
    client = Client(url=url, token=credential) if url and credential else Client.from_environment()
    with _default_lock:
        _default = client
    return client


def current() -> Client:
    """The connection ``ab`` calls use: the last ``connect()``, else one made from the environment."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client.from_environment()
        return _default
