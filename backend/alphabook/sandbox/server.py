"""The sandbox executor service: one warm bubblewrap pool behind HTTP, for deployments that isolate it.

On one machine every process keeps its own pool. At scale the pool becomes a service of its own (its own
containers or pods, under gVisor, with no egress and only the API and workers allowed in), sized from calls per
second rather than from API replicas. FastAPI serves it (uvicorn runs it: ``alphabook sandbox serve``);
requests and answers are the pool's own framing (:mod:`alphabook.sandbox.protocol`), refusals are problem+json
(:mod:`alphabook.api.problems`), and callers use :class:`~alphabook.sandbox.remote.RemoteExecutor`.

Nothing from a caller is trusted: the service validates the source again, checks the frame against its
description and the limits, and runs everything in its pool. Callers authenticate with a shared Bearer token,
compared in constant time; without one the service only listens on loopback.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import AsyncIterator
from concurrent.futures import CancelledError
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from alphabook import __version__
from alphabook.api import problems
from alphabook.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from alphabook.sandbox.base import Ticket
from alphabook.sandbox.frames import decode_frame, encode_result
from alphabook.sandbox.pool import BwrapPool
from alphabook.sandbox.protocol import ProtocolError, pack, unpack
from alphabook.sandbox.remote import CALLS_PATH, FRAME_TYPE, limits_of
from alphabook.sandbox.service import SandboxConfig, sandbox_status

__all__ = ["MAX_REQUEST_BYTES", "create_app"]

MAX_REQUEST_BYTES = 1 << 30  # the largest call body read (2M rows of OHLCV is ~100 MB)


class CallCancelled(Conflict):
    """The call was cancelled by its caller before it finished."""

    title = "Call cancelled"
    slug = "sandbox-cancelled"


def create_app(executor: BwrapPool, config: SandboxConfig, token: str | None) -> FastAPI:
    """The service's app around ``executor`` (closed when the app stops)."""
    calls: dict[str, Ticket] = {}
    lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        executor.close()

    app = FastAPI(title="alphabook sandbox executor", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    problems.install(app)

    def caller(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthenticated("A valid Bearer token (ALPHABOOK_SANDBOX_SERVICE_TOKEN) is required.")

    authenticated = [Depends(caller)]

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "sandbox": sandbox_status(config, executor)}

    @app.post(CALLS_PATH, dependencies=authenticated)
    async def call(request: Request) -> Response:
        content = bytearray()
        async for chunk in request.stream():
            content += chunk
            if len(content) > MAX_REQUEST_BYTES:
                raise InvalidInput(f"A call's body may hold at most {MAX_REQUEST_BYTES} bytes.")
        try:
            header, body = unpack(content)
            limits = limits_of(header.get("limits"))
            df = decode_frame(header["frame"], body)
            source, params, call_id = header["source"], header.get("params") or {}, str(header["call"])
        except (ProtocolError, KeyError, TypeError, ValueError) as error:
            raise InvalidInput(f"The call is not in the sandbox's wire format: {error}") from error
        if not isinstance(source, str) or not isinstance(params, dict):
            raise InvalidInput("The call's source must be a string and its params an object.")
        def remember(ticket: Ticket) -> None:
            with lock:
                calls[call_id] = ticket

        try:  # run() computes in this worker thread when a slot is idle: no hand-off to the slot's thread
            output = await run_in_threadpool(executor.run, source, df, params, limits, on_ticket=remember)
        except CancelledError as error:
            raise CallCancelled("The call was cancelled by its caller.") from error
        finally:
            with lock:
                calls.pop(call_id, None)
        names, arrays = encode_result(output)
        return Response(b"".join(pack({"names": names}, arrays)), media_type=FRAME_TYPE)

    @app.delete(CALLS_PATH + "/{call_id}", status_code=204, dependencies=authenticated)
    def cancel(call_id: str) -> Response:
        with lock:
            ticket = calls.get(call_id)
        if ticket is None:
            raise NotFound(f"There is no running call {call_id}.")
        executor.cancel(ticket)
        return Response(status_code=204)

    return app
