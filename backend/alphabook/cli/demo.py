"""``alphabook demo expire`` and ``alphabook demo cleanup``: the demo accounts' two scheduled jobs.

``expire`` marks demos whose time is up read-only (the API already treats them so; this writes it down and
audits it). ``cleanup`` deletes demos whose read-only period is over, with everything in them, and prints how
many rows of each table went. Both work in committed batches, are safe to run at the same time as the API and
as each other, and do nothing when there is nothing due, so a scheduler may run them as often as it likes.
"""

from __future__ import annotations

import typer
from rich.console import Console

from alphabook.core.config import get_settings
from alphabook.core.db import Database

app = typer.Typer(help="Demo trading accounts: expire and clean up.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("expire")
def expire() -> None:
    """Make demos past their expiry read-only."""
    from alphabook.trading.accounts import run_expiry

    settings = get_settings()
    database = Database(settings.effective_database_url)
    try:
        count = run_expiry(database)
    finally:
        database.dispose()
    console.print(f"{count} demo accounts expired (now read-only)")


@app.command("cleanup")
def cleanup() -> None:
    """Delete demos that stayed read-only longer than ALPHABOOK_DEMO_READ_ONLY_DAYS, with their rows."""
    from alphabook.trading.accounts import run_cleanup

    settings = get_settings()
    database = Database(settings.effective_database_url)
    try:
        result = run_cleanup(database, settings)
    finally:
        database.dispose()
    console.print(f"{result.accounts} demo accounts deleted")
    for table, count in sorted(result.rows.items()):
        console.print(f"  {table:<24} {count}")
