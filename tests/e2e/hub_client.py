"""A small client that uses a running hub the way a person and their notebook do.

It signs up and logs in through the hub's HTML forms (with the XSRF token a browser would carry),
asks for an API token, starts a server, and runs code in a kernel over the Jupyter messaging protocol
on the kernel's WebSocket, waiting for ``status: idle`` (output can arrive after ``execute_reply``).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.sync.client import connect


@dataclass
class KernelResult:
    outputs: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Everything the cell showed: results and streams, in order."""
        parts = []
        for output in self.outputs:
            if output["msg_type"] in {"execute_result", "display_data"}:
                parts.append(output["content"]["data"].get("text/plain", ""))
            elif output["msg_type"] == "stream":
                parts.append(output["content"]["text"])
            elif output["msg_type"] == "error":
                parts.append(f"{output['content']['ename']}: {output['content']['evalue']}")
        return "".join(parts)


class HubUserSession:
    """One person's browser session with the hub."""

    def __init__(self, base_url: str, name: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.http = httpx.Client(base_url=self.base_url, follow_redirects=True, timeout=60)
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def _xsrf(self) -> str:
        self.http.get("/hub/login")
        return self.http.cookies.get("_xsrf", path="/hub/") or self.http.cookies["_xsrf"]

    def sign_up(self, password: str, *, confirm: str | None = None) -> httpx.Response:
        self.http.get("/hub/signup")
        form = {"_xsrf": self._xsrf(), "username": self.name, "password": password,
                "password_confirm": password if confirm is None else confirm}
        return self.http.post("/hub/signup", data=form)

    def log_in(self, password: str) -> httpx.Response:
        form = {"_xsrf": self._xsrf(), "username": self.name, "password": password}
        return self.http.post("/hub/login", data=form, follow_redirects=False)

    def request_token(self) -> str:
        """Ask the hub for an API token with the logged-in cookie, as JupyterHub's token page does."""
        reply = self.http.post(
            f"/hub/api/users/{self.name}/tokens",
            json={"note": "e2e", "expires_in": 3600},
            headers={"X-XSRFToken": self._xsrf()},
        )
        reply.raise_for_status()
        self.token = reply.json()["token"]
        return self.token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        headers.setdefault("Authorization", f"token {self.token}")
        return self.http.request(method, path, headers=headers, **kwargs)

    def start_server(self, timeout: float = 180) -> None:
        """Start the server, or wait for the one the hub already began: landing on /hub/ after signing up
        spawns it, as it does in a browser, and the hub then answers 400 "already running" or "pending"."""
        reply = self.api("POST", f"/hub/api/users/{self.name}/server")
        began_elsewhere = reply.status_code == 400 and any(
            word in reply.json().get("message", "") for word in ("already running", "pending"))
        assert reply.status_code in (201, 202) or began_elsewhere, reply.text
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/hub/api/users/{self.name}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}'s server did not become ready in {timeout}s")

    def start_kernel(self, name: str = "alphabook-research") -> str:
        reply = self.api("POST", f"/user/{self.name}/api/kernels", json={"name": name})
        assert reply.status_code == 201, reply.text
        kernel_id: str = reply.json()["id"]
        return kernel_id

    def execute(self, kernel_id: str, code: str, timeout: float = 60) -> KernelResult:
        ws_url = self.base_url.replace("http", "ws", 1) + f"/user/{self.name}/api/kernels/{kernel_id}/channels"
        msg_id = uuid.uuid4().hex
        request = {
            "header": {"msg_id": msg_id, "username": self.name, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }
        result = KernelResult()
        idle = False
        with connect(ws_url, additional_headers={"Authorization": f"token {self.token}"},
                     open_timeout=timeout) as ws:
            ws.send(json.dumps(request))
            deadline = time.monotonic() + timeout
            while not (idle and result.reply):
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = message["msg_type"]
                if kind == "execute_reply":
                    result.reply = message["content"]
                elif kind == "status" and message["content"]["execution_state"] == "idle":
                    idle = True
                elif kind in {"execute_result", "display_data", "stream", "error"}:
                    result.outputs.append(message)
        return result
