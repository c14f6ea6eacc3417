"""The API with its sandbox split off: every creator's call goes to the executor service, none runs in the API.

This is the docker-compose and Kubernetes arrangement (ALPHABOOK_SANDBOX_URL pointing at `alphabook sandbox
serve`): publishing checks a listing in the service, a buyer's run is computed there, and /api/health reports
the service's pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alphabook.api.main import create_app
from alphabook.core.config import Settings
from alphabook.core.db import Database
from tests.integration.market import API, Market, ok, problem
from tests.sandbox.service_process import SandboxService, sandbox_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxService]:
    with sandbox_service(tmp_path_factory.mktemp("sandbox-service"), pool_size=1) as running:
        yield running


def test_listings_are_checked_and_run_by_the_executor_service(database: Database, tmp_path: Path,
                                                             service: SandboxService) -> None:
    settings = Settings(home=tmp_path, database_url=database.url, payment_provider="local",
                        sandbox_url=service.url, sandbox_service_token=service.token)
    with TestClient(create_app(settings, prefix="/services/api/")) as client:
        market = Market(client, database)
        market.creator = market.user(f"maker{tmp_path.name[-6:]}", ["user", "creator"])
        market.admin = market.user(f"boss{tmp_path.name[-6:]}", ["user", "admin"])
        slug = market.publish(f"remote{tmp_path.name[-6:]}", price_minor=0, licence="open")
        page = ok(client.get(f"{API}/listings/{slug}"))
        assert page["active_version"]["report"]["ok"] and page["preview"]["outputs"]

        bars = {"time": [f"2024-01-{day:02d}T00:00:00+00:00" for day in range(1, 31)],
                **{column: [100.0 + day for day in range(30)] for column in ("open", "high", "low", "close")},
                "volume": [1.0] * 30}
        ran = ok(client.post(f"{API}/listings/{slug}/run", headers=market.creator,
                             json={"bars": bars, "params": {"length": 5}}))
        [values] = ran["outputs"].values()
        assert values[3] is None and values[4] == pytest.approx(102.0) and values[-1] == pytest.approx(127.0)
        problem(client.post(f"{API}/listings/{slug}/run", headers=market.creator,
                            json={"bars": bars, "params": {"length": "five"}}), 422)

        health = ok(client.get(f"{API}/health"))["sandbox"]
        assert health["mode"] == "remote" and health["isolated"] is True
        assert health["pool"]["mode"] == "remote" and health["pool"]["succeeded"] >= 2
        assert health["service"]["pool"]["succeeded"] >= 2  # computed there, not in the API process
