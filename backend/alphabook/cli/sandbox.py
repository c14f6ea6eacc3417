"""``alphabook sandbox``: run an indicator file in the sandbox from the shell, and see where the time went.

A creator (or an operator checking a machine) runs ``alphabook sandbox run my_rsi.py --data btc.csv
--param length=14``: the file is validated, sent with the data to a one-slot bubblewrap pool and its
output's first rows are printed with rich, followed by the time spent validating, queueing and running.
``alphabook sandbox status`` prints what ``/api/health`` reports about the sandbox, and ``alphabook sandbox
serve`` runs the executor service (:mod:`alphabook.sandbox.server`) that split deployments point
``ALPHABOOK_SANDBOX_URL`` at.
"""

from __future__ import annotations

import ipaddress
import json
import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from alphabook.core.config import get_settings
from alphabook.core.errors import AlphabookError, InvalidInput
from alphabook.sandbox.limits import Limits
from alphabook.sandbox.pool import BwrapPool
from alphabook.sandbox.service import SandboxConfig, build_executor, sandbox_status

app = typer.Typer(help="Run creators' indicators in the sandbox.", no_args_is_help=True)
console = Console(soft_wrap=True)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["length=14", "source=close"]`` -> ``{"length": 14, "source": "close"}`` (values read as JSON if valid)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--param {pair!r}: write name=value, e.g. --param length=14")
        try:
            params[name.strip()] = json.loads(raw)
        except ValueError:
            params[name.strip()] = raw
    return params


def read_bars(path: Path) -> pd.DataFrame:
    """An OHLCV CSV (plain or .gz): the first column is the bar time (made UTC), the rest become float64."""
    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    if isinstance(frame.index, pd.DatetimeIndex):
        frame.index = frame.index.tz_localize("UTC") if frame.index.tz is None else frame.index.tz_convert("UTC")
    numeric = [column for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])]
    return frame[numeric].astype("float64")


@app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="Python file defining indicator(df, **params).", exists=True,
                                         dir_okay=False)],
    data: Annotated[Path, typer.Option("--data", help="OHLCV CSV: time, open, high, low, close, volume.",
                                       exists=True, dir_okay=False)],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="A parameter, name=value.")] = None,
    cpu: Annotated[int, typer.Option(help="CPU seconds allowed.")] = 5,
    wall: Annotated[float, typer.Option(help="Wall-clock seconds allowed.")] = 10.0,
    memory_mb: Annotated[int, typer.Option(help="Memory the code may allocate, MiB.")] = 1024,
    rows: Annotated[int, typer.Option(help="Rows of output to print (the first ones with values).")] = 10,
) -> None:
    """Run FILE's indicator on --data in a one-slot sandbox; print the output's first rows and the timing."""
    try:
        source = file.read_text(encoding="utf-8")
        df = read_bars(data)
        params = parse_params(param or [])
        limits = Limits(cpu_seconds=cpu, wall_seconds=wall, memory_bytes=memory_mb << 20)
        started = time.perf_counter()
        with build_executor(SandboxConfig.from_settings(), size=1) as pool:
            ready = time.perf_counter()
            ticket = pool.submit(source, df, params, limits)
            output = pool.result(ticket)
    except AlphabookError as exc:
        console.print(f"[red]{type(exc).__name__}:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    shown = output.dropna(how="all").head(rows)  # past the warm-up, where the indicator has values
    table = Table(str(output.index.name or "index"), *map(str, output.columns),
                  title=f"first {len(shown)} rows with values")
    for when, values in zip(shown.index, shown.to_numpy(), strict=True):
        table.add_row(str(when), *(f"{value:.6g}" for value in values))
    console.print(table)
    timings = ticket.timings
    console.print(f"{len(output)} rows x {len(output.columns)} columns from {len(df)} bars  |  validation "
                  f"{timings.validation_s * 1000:.1f} ms, queue {timings.queue_s * 1000:.1f} ms, run "
                  f"{timings.run_s * 1000:.1f} ms  (sandbox start {(ready - started) * 1000:.0f} ms, "
                  f"{pool.mode})")


@app.command("status")
def status() -> None:
    """Print whether and how this machine can isolate creators' code (what /api/health shows)."""
    console.print_json(json.dumps(sandbox_status(), default=str))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: sandbox_service_host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: sandbox_service_port).")] = None,
) -> None:
    """Run the sandbox executor service: this machine's warm pool, for callers with ALPHABOOK_SANDBOX_URL."""
    import uvicorn

    from alphabook.sandbox.server import create_app

    settings = get_settings()
    host = host or settings.sandbox_service_host
    token = settings.sandbox_service_token.get_secret_value() if settings.sandbox_service_token else None
    if token is None and not _loopback(host):
        console.print(f"[red]Refusing to serve creators' code on {host} without a token:[/red] set "
                      "ALPHABOOK_SANDBOX_SERVICE_TOKEN (and give the callers the same value).")
        raise typer.Exit(2)
    config = SandboxConfig.from_settings(settings).local()
    try:
        executor = build_executor(config)
    except AlphabookError as exc:
        console.print(f"[red]{type(exc).__name__}:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    assert isinstance(executor, BwrapPool)  # config.local() names no service: a pool in this process
    uvicorn.run(create_app(executor, config, token), host=host, port=port or settings.sandbox_service_port,
                log_level=settings.log_level.lower(), timeout_graceful_shutdown=2)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return bool(ipaddress.ip_address(host).is_loopback)
    except ValueError:
        return False
