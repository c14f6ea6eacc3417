"""Webhook alert benchmarks (``make bench``): signed alerts over loopback into the paper broker.

The API runs as ``alphabook api`` (uvicorn, in its own process, with its own dispatcher thread as ``make run`` has
it) on PostgreSQL when ``ALPHABOOK_TEST_DATABASE_URL`` is set, else on the embedded SQLite file. A separate load
process (this file run as a script) sends Standard Webhooks-signed market orders for a paper account over
keep-alive connections (asyncio, one alert in flight on each). The server decides alerts in batches
(``alphabook.trading.intake``), so each answer waits for its batch: with 16 connections the server sits idle part
of the time, waiting for alerts, and 64 keep it busy, as TradingView's many senders would; the throughput is
measured with both (``LOAD_CLIENTS``). Figures:

* throughput: alerts answered per second, and alerts filled per second (receipt of the first to the last fill);
* latency from receipt to fill: each alert's ``received_at`` to its fill's time at the paper venue (both the
  server's clock), p50 and p99, at full load and at steady paces from 50 to 500 alerts/s (the throughput goal),
  with its two stages (deciding the alert and writing its order; sending it and its fill); and the sender's round
  trip;
* a retry storm: every alert sent 3 times at once (same ``webhook-id``), then counted: orders per alert in our
  journal and at the paper venue must both be exactly one;
* the anchor: the same sender and alerts against an endpoint that only reads the body and answers
  (``floor_app.py``, FastAPI on uvicorn with as many processes), and alphabook's throughput as a share of it.

Goals (issue #6): >= 500 alerts/s, p99 <= 25 ms, 0 duplicates. Nothing here asserts on time; the figures and
goals are printed, with where the CPU went: the server processes, PostgreSQL and the load sender share this
machine's cores, so CPU milliseconds per alert bound what the machine can reach (``cores x 1000 / ms``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httptools
import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

ALERTS = 3_000
FLOOR_ALERTS = 10_000  # the anchor answers thousands per second: enough of them for a second of load
STORM_ALERTS = 1_000
PACED_ALERTS = 1_000
PACES = (50, 100, 150, 300, 500)  # alerts/s: receipt to fill as the pace nears the throughput goal
LOAD_CLIENTS = (16, 64)  # connections for the throughput runs, each with one alert in flight
CLIENTS = 64  # connections for the paced runs and the retry storm
WORKERS = 2 if os.environ.get("ALPHABOOK_TEST_DATABASE_URL") else 1  # PostgreSQL: one per core
ROWS: list[tuple[str, str, str]] = []
ANSWERED: dict[str, float] = {}  # alerts answered per second, by run, for the share of the floor


# --- the load process ---------------------------------------------------------------------------------------


def _sign(secret: str, webhook_id: str, stamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body,
                                             hashlib.sha256).digest()).decode()


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time; answers are parsed by httptools (uvicorn's own
    parser). The sender shares the machine's cores with the server: httpx's threads took ~1 ms of CPU per request,
    this ~0.15 ms, so what the benchmark measures is the server, not its client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host
        self._body = bytearray()
        self._complete = False

    @classmethod
    async def open(cls, base: str) -> Connection:
        address = urlsplit(base)
        assert address.hostname is not None and address.port is not None
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        return cls(reader, writer, address.netloc)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}", f"content-length: {len(body)}",
                 *(f"{name}: {value}" for name, value in (headers or {}).items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self._body.clear()
        self._complete = False
        parser = httptools.HttpResponseParser(self)
        while not self._complete:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError(f"the server closed the connection during {method} {path}")
            parser.feed_data(data)
        return parser.get_status_code(), bytes(self._body)

    def on_body(self, data: bytes) -> None:  # httptools' callbacks
        self._body.extend(data)

    def on_message_complete(self) -> None:
        self._complete = True

    def close(self) -> None:
        self.writer.close()


def load(base: str, hook_id: str, secret: str, alerts: int, copies: int, clients: int, label: str,
         rate: float = 0.0) -> dict[str, Any]:
    """Send ``alerts`` signed alerts, each ``copies`` times at once, over ``clients`` connections (paced at ``rate``
    alerts/s in all when given, else as fast as answers come); report timings."""
    return asyncio.run(_load(base, hook_id, secret, alerts, copies, clients, label, rate))


async def _load(base: str, hook_id: str, secret: str, alerts: int, copies: int, clients: int, label: str,
                rate: float) -> dict[str, Any]:
    from tqdm import tqdm

    jobs = []
    for number in range(alerts):
        body = json.dumps({"symbol": "GOOG", "side": "buy", "quantity": "1", "price": "600",
                           "alert_id": f"{label}-{number}"}).encode()
        jobs.append((number, f"msg_{label}_{number}", body))
    round_trips: list[float] = []
    decisions: dict[str, int] = {}
    progress = tqdm(total=alerts * copies, desc=f"{label} alerts", unit="alert", file=sys.stderr)
    path = f"/api/hooks/{hook_id}"

    async def send(http: Connection, webhook_id: str, body: bytes) -> None:
        stamp = str(int(time.time()))
        headers = {"webhook-id": webhook_id, "webhook-timestamp": stamp, "content-type": "application/json",
                   "webhook-signature": _sign(secret, webhook_id, stamp, body)}
        started = time.perf_counter()
        status, answer = await http.request("POST", path, body, headers)
        round_trips.append(time.perf_counter() - started)
        try:
            decision = str(json.loads(answer).get("decision")) if status == 200 else f"HTTP {status}"
        except ValueError:
            decision = f"HTTP {status}"
        decisions[decision] = decisions.get(decision, 0) + 1
        progress.update(1)

    # Every connection is made before the clock starts: made as the clients start, they held the first alerts
    # back, which then left together to catch up with the pace (a burst the paced run is not about).
    pools = [[await Connection.open(base) for _ in range(copies)] for _ in range(clients)]
    for http in (http for connections in pools for http in connections):
        status, _ = await http.request("GET", "/api/health")
        assert status == 200, f"GET /api/health answered {status}"
    cursor = iter(jobs)
    begin = time.perf_counter()

    async def client(connections: list[Connection]) -> None:
        for number, webhook_id, body in cursor:  # shared by the clients: each alert is taken by one of them
            if rate:  # the n-th alert leaves at n / rate seconds
                await asyncio.sleep(max(0.0, begin + number / rate - time.perf_counter()))
            # copies > 1: the same alert, several times at once, each copy on its own connection
            await asyncio.gather(*(send(http, webhook_id, body) for http in connections))
        for http in connections:
            http.close()

    await asyncio.gather(*(client(connections) for connections in pools))
    elapsed = time.perf_counter() - begin
    progress.close()
    return {"elapsed": elapsed, "round_trips": round_trips, "decisions": decisions}


if __name__ == "__main__":  # the load process: test_bench_alerts.py BASE HOOK SECRET ALERTS COPIES LABEL RATE CLIENTS
    base_url, target_hook, hook_secret, count, copies_each, name, pace, connections = sys.argv[1:9]
    print(json.dumps(load(base_url, target_hook, hook_secret, int(count), int(copies_each), int(connections), name,
                          float(pace))))
    sys.exit(0)


# --- the benchmark -----------------------------------------------------------------------------------------

from tests.integration.databases import migrated_database  # noqa: E402
from tests.ports import free_port  # noqa: E402

from alphabook.accounts import service  # noqa: E402
from alphabook.core.config import Settings  # noqa: E402
from alphabook.core.db import Database  # noqa: E402
from alphabook.core.money import Money  # noqa: E402
from alphabook.trading import accounts, hooks  # noqa: E402
from alphabook.trading.credentials import cipher_for  # noqa: E402
from alphabook.trading.models import Alert, Order, OrderFill  # noqa: E402
from alphabook.trading.paper_book import PaperOrder  # noqa: E402


def record(what: str, figure: str, goal: str) -> None:
    ROWS.append((what, figure, goal))
    print(f"\n{what:56s} {figure:40s} goal: {goal}")


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print("\n\n" + "=" * 120 + "\nwebhook alert benchmarks\n" + "-" * 120)
    for what, figure, goal in ROWS:
        print(f"{what:56s} {figure:40s} goal: {goal}")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    backend = "postgresql" if os.environ.get("ALPHABOOK_TEST_DATABASE_URL") else "sqlite"
    with migrated_database(backend, tmp_path_factory.mktemp("bench-alerts")) as db:
        yield db


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-alerts-home")


@pytest.fixture(scope="module")
def hook(database: Database, home: Path) -> tuple[str, str, int]:
    """A signed paper hook on an account with cash for every order (1 GOOG each, about 600 USD)."""
    settings = Settings(home=home, database_url=database.url)
    with database.session() as session:
        user = service.ensure_user(session, "bench")
        account = accounts.open_paper_account(session, user, name="bench",
                                              starting_cash=Money.of("100000000", "USD"))
        made = hooks.create(session, cipher_for(settings), account, actor="bench", name="bench", format="signed",
                            live=False)
        return made.hook.id, made.secret, account.id


@dataclass(frozen=True)
class Server:
    base: str
    pid: int


@contextmanager
def serving(command: list[str], port: int, environment: dict[str, str]) -> Iterator[Server]:
    """``command`` started, once it answers ``GET /api/health`` on ``port``; terminated afterwards."""
    import httpx

    process = subprocess.Popen(command, env=environment, cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"{command[-1]} did not answer GET /api/health within 60 s")
        yield Server(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(database: Database, home: Path, hook: tuple[str, str, int]) -> Iterator[Server]:
    """``alphabook api`` as JupyterHub starts it (no prefix), with its dispatcher thread, warmed up by 200 alerts
    (its pools' connections, its threads and PostgreSQL's prepared statements), whichever test runs first."""
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("JUPYTERHUB_",
                                                                                              "ALPHABOOK_"))}
    environment.update(ALPHABOOK_HOME=str(home), ALPHABOOK_DATABASE_URL=database.url, ALPHABOOK_API_PORT=str(port),
                       ALPHABOOK_API_WORKERS=str(WORKERS), ALPHABOOK_LOG_LEVEL="WARNING",
                       ALPHABOOK_TRADING_DISPATCHER_IN_API="true")
    with serving([str(Path(sys.executable).parent / "alphabook"), "api"], port, environment) as running:
        run_load(running, hook, 200, 1, "warmup")
        wait_for_fills(database, "warmup", 200)
        yield running


@pytest.fixture(scope="module")
def floor() -> Iterator[Server]:
    """``floor_app.py`` on uvicorn with as many worker processes as the API: the anchor."""
    port = free_port()
    with serving([sys.executable, "-m", "uvicorn", "tests.benchmarks.floor_app:app", "--workers", str(WORKERS),
                  "--port", str(port), "--log-level", "warning", "--no-access-log"], port, dict(os.environ)) as running:
        yield running


def run_load(server: Server, hook: tuple[str, str, int], alerts: int, copies: int, label: str,
             rate: float = 0.0, clients: int = CLIENTS) -> dict[str, Any]:
    hook_id, secret, _ = hook
    result = subprocess.run([sys.executable, __file__, server.base, hook_id, secret, str(alerts), str(copies), label,
                             str(rate), str(clients)],
                            capture_output=False, stdout=subprocess.PIPE, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


@dataclass(frozen=True)
class Timeline:
    """One accepted alert of a run: received, its order written, its first fill at the paper venue."""

    received: datetime
    written: datetime
    filled: datetime

    def ms(self, start: str, end: str) -> float:
        return float((getattr(self, end) - getattr(self, start)).total_seconds() * 1000)


def wait_for_fills(database: Database, label: str, expected: int) -> list[Timeline]:
    """Each accepted alert of this run, once all of them have filled (at most 120 s)."""
    from tqdm import tqdm

    query = (select(Alert.received_at, Order.created_at, func.min(OrderFill.at))
             .join(Order, Order.id == Alert.order_id).join(OrderFill, OrderFill.order_id == Order.id)
             .where(Alert.decision == "accepted", Alert.dedupe_key.like(f"alert:{label}-%"))
             .group_by(Alert.id, Alert.received_at, Order.created_at))
    deadline = time.monotonic() + 120
    rows: list[Timeline] = []
    with tqdm(total=expected, desc=f"{label} fills", unit="fill", file=sys.stderr) as progress:
        while True:
            try:
                with database.session() as session:
                    rows = [Timeline(*row) for row in session.execute(query)]
            except OperationalError:  # SQLite: the API process keeps the write lock busy while it catches up
                pass
            progress.update(len(rows) - progress.n)
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


def cpu_seconds(server: Server) -> dict[str, float]:
    """CPU seconds used so far by the server (its processes), PostgreSQL, and the finished load senders."""
    main = psutil.Process(server.pid)
    processes = [main, *main.children(recursive=True)]
    used = {"server processes": 0.0, "PostgreSQL": 0.0}
    for process in processes:
        times = process.cpu_times()
        used["server processes"] += times.user + times.system
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            try:
                times = process.cpu_times()
            except psutil.Error:  # a backend that ended meanwhile
                continue
            used["PostgreSQL"] += times.user + times.system
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["load sender"] = children.ru_utime + children.ru_stime
    return used


def record_cpu(before: dict[str, float], after: dict[str, float], requests: int, what: str = "alert") -> None:
    spent = {name: (after[name] - before[name]) * 1000 / requests for name in after}
    total = sum(spent.values())
    cores = os.cpu_count() or 1
    record(f"  CPU per {what}", ", ".join(f"{name} {value:.2f} ms" for name, value in spent.items()),
           "report")
    record("  at most, with every core busy", f"{cores} cores x 1000 / {total:.2f} ms = "
           f"{cores * 1000 / total:.0f} {what}s/s", ">= 500 alerts/s")


def spread(milliseconds: list[float]) -> str:
    return f"p50 {percentile(milliseconds, 50):.1f} ms, p99 {percentile(milliseconds, 99):.1f} ms"


def percentile(values: list[float], share: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1] if len(values) > 1 else values[0]


@pytest.mark.parametrize("clients", LOAD_CLIENTS)
def test_alert_throughput_and_latency(database: Database, server: Server, hook: tuple[str, str, int],
                                      clients: int) -> None:
    label = f"steady{clients}"
    before = cpu_seconds(server)
    outcome = run_load(server, hook, ALERTS, 1, label, clients=clients)
    rows = wait_for_fills(database, label, ALERTS)
    after = cpu_seconds(server)
    backend = database.engine.dialect.name
    answered = ALERTS / outcome["elapsed"]
    ANSWERED["alphabook"] = max(answered, ANSWERED.get("alphabook", 0.0))
    record(f"signed alerts answered ({backend}, {WORKERS} API processes, {clients} clients)",
           f"{answered:.0f} alerts/s ({ALERTS} in {outcome['elapsed']:.1f} s)", ">= 500 alerts/s")
    latencies = [row.ms("received", "filled") for row in rows]
    if rows:
        span = (max(row.filled for row in rows) - min(row.received for row in rows)).total_seconds()
        record("  alerts filled at the paper broker", f"{len(rows) / span:.0f} alerts/s ({len(rows)} filled)",
               ">= 500 alerts/s")
        record("  receipt to fill", f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms",
               "p99 <= 25 ms")
    trips = [seconds * 1000 for seconds in outcome["round_trips"]]
    record("  sender's round trip (decision)", spread(trips), "report")
    record("  decisions", json.dumps(outcome["decisions"], sort_keys=True), f"{ALERTS} accepted")
    record_cpu(before, after, ALERTS)


def test_the_floor_of_this_machine(floor: Server, hook: tuple[str, str, int]) -> None:
    """The anchor: the same sender, alerts and worker processes against an endpoint that does nothing (floor_app),
    so the HTTP stack's and the sender's own cost per request is known, and alphabook's share of the floor."""
    run_load(floor, hook, 200, 1, "floor-warmup")
    before = cpu_seconds(floor)
    outcome = run_load(floor, hook, FLOOR_ALERTS, 1, "floor")
    after = cpu_seconds(floor)
    ANSWERED["floor"] = FLOOR_ALERTS / outcome["elapsed"]
    record(f"anchor: an empty FastAPI endpoint ({WORKERS} processes, same sender)",
           f"{ANSWERED['floor']:.0f} requests/s ({FLOOR_ALERTS} in {outcome['elapsed']:.1f} s)", "anchor")
    record("  decisions", json.dumps(outcome["decisions"], sort_keys=True), f"{FLOOR_ALERTS} accepted")
    record_cpu(before, after, FLOOR_ALERTS, "request")
    if "alphabook" in ANSWERED:
        record("  alphabook's alerts/s as a share of the anchor's requests/s",
               f"{ANSWERED['alphabook'] / ANSWERED['floor']:.0%} ({ANSWERED['alphabook']:.0f} / "
               f"{ANSWERED['floor']:.0f})", "report")


@pytest.mark.parametrize("pace", PACES)
def test_latency_at_a_steady_pace(database: Database, server: Server, hook: tuple[str, str, int], pace: int) -> None:
    """The same alerts at a pace the installation keeps up with: receipt to fill without a queue."""
    label = f"paced{pace}"
    outcome = run_load(server, hook, PACED_ALERTS, 1, label, rate=pace)
    rows = wait_for_fills(database, label, PACED_ALERTS)
    latencies = [row.ms("received", "filled") for row in rows]
    trips = [seconds * 1000 for seconds in outcome["round_trips"]]
    record(f"paced at {pace} alerts/s ({PACED_ALERTS} alerts)", f"receipt to fill {spread(latencies)}",
           "p99 <= 25 ms")
    record("  sender's round trip (decision)", spread(trips), "report")
    written = [row.ms("received", "written") for row in rows]  # deciding the alert, writing its order (the intake)
    sent = [row.ms("written", "filled") for row in rows]  # sending it, its fill at the paper venue (the dispatcher)
    record("  receipt to order written / order written to fill", f"{spread(written)} / {spread(sent)}", "report")
    record("  decisions", json.dumps(outcome["decisions"], sort_keys=True), f"{PACED_ALERTS} accepted")


def test_retry_storm_places_each_alert_once(database: Database, server: Server, hook: tuple[str, str, int]) -> None:
    outcome = run_load(server, hook, STORM_ALERTS, 3, "storm")
    wait_for_fills(database, "storm", STORM_ALERTS)
    _, _, account_id = hook
    with database.session() as session:
        accepted = session.scalar(select(func.count(Alert.id)).where(Alert.decision == "accepted",
                                                                     Alert.dedupe_key.like("alert:storm-%")))
        orders_per_alert = session.execute(
            select(Alert.order_id, func.count(Alert.id)).where(Alert.order_id.is_not(None))
            .where(Alert.body["alert_id"].as_string().like("storm-%")).group_by(Alert.order_id)).all()
        journal = session.scalar(select(func.count(Order.id)).where(Order.account_id == account_id))
        venue = session.scalar(select(func.count(PaperOrder.id)).where(PaperOrder.account_id == account_id))
        venue_distinct = session.scalar(select(func.count(func.distinct(PaperOrder.client_order_id)))
                                        .where(PaperOrder.account_id == account_id))
    total = 200 + ALERTS * len(LOAD_CLIENTS) + PACED_ALERTS * len(PACES) + STORM_ALERTS  # one order per alert sent
    duplicates = max(0, (journal or 0) - total) + max(0, (venue or 0) - total) + max(0, (accepted or 0) - STORM_ALERTS)
    duplicates += (venue or 0) - (venue_distinct or 0)
    record(f"retry storm: {STORM_ALERTS} alerts x 3 at once", f"{STORM_ALERTS * 3 / outcome['elapsed']:.0f} "
           f"requests/s, decisions {json.dumps(outcome['decisions'], sort_keys=True)}", "report")
    record("  orders in the journal / at the paper venue", f"{journal} / {venue} for {total} alerts "
           f"(storm alerts answered by {len(orders_per_alert)} orders)", f"{total} / {total}")
    record("  duplicates", str(duplicates), "0")
