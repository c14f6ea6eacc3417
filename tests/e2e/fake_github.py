"""A local stand-in for GitHub's OAuth web flow and REST API (the parts oauthenticator calls).

It speaks the real protocol: ``/login/oauth/authorize`` redirects back with a code (as GitHub does once
the person has approved), ``/login/oauth/access_token`` exchanges the code for a token after checking
the client credentials, and ``/api/v3/user`` (the GitHub Enterprise API path, since the hub is pointed
here through ``github_url``) answers for that token only.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse


class FakeGitHub:
    def __init__(self, login: str, client_id: str, client_secret: str) -> None:
        self.login = login
        self.client_id = client_id
        self.client_secret = client_secret
        self.codes: set[str] = set()
        self.tokens: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        github = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                if url.path == "/login/oauth/authorize":
                    if query.get("client_id") != github.client_id:
                        self._json(400, {"error": "invalid_client"})
                        return
                    code = secrets.token_hex(8)
                    github.codes.add(code)
                    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                elif url.path == "/api/v3/user":
                    token = self.headers.get("Authorization", "").split(" ")[-1]
                    if token not in github.tokens:
                        self._json(401, {"message": "Bad credentials"})
                        return
                    self._json(200, {"login": github.login, "id": 583231, "name": "The Octocat", "email": None})
                else:
                    self._json(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                form = {key: values[0] for key, values in parse_qs(raw or urlparse(self.path).query).items()}
                if urlparse(self.path).path != "/login/oauth/access_token":
                    self._json(404, {"message": "Not Found"})
                elif (form.get("client_id"), form.get("client_secret")) != (github.client_id, github.client_secret):
                    self._json(401, {"error": "incorrect_client_credentials"})
                elif form.get("code") not in github.codes:
                    self._json(400, {"error": "bad_verification_code"})
                else:
                    github.codes.discard(form["code"])
                    token = "gho_" + secrets.token_hex(16)
                    github.tokens.add(token)
                    self._json(200, {"access_token": token, "token_type": "bearer", "scope": "read:user"})

        return Handler
