"""The machine's floor for the alert benchmark: the hook's path on FastAPI and uvicorn doing nothing but read the
JSON body and answer, served and driven exactly as ``alphabook api`` is. What alphabook reaches is printed as a
share of what this reaches, so the benchmark's figures say how much of the machine the HTTP stack and the load
sender already take before alphabook does any work."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/api/hooks/{hook_id}")
async def answer(hook_id: str, request: Request) -> dict[str, Any]:
    body = await request.json()
    return {"decision": "accepted", "hook": hook_id, "alert_id": body.get("alert_id")}


@app.get("/api/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
