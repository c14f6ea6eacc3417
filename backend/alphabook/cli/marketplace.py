"""``alphabook library seed`` and ``alphabook payouts run``: the marketplace's operator commands."""

from __future__ import annotations

import typer
from rich.console import Console

from alphabook.core import migrations
from alphabook.core.config import Settings, get_settings
from alphabook.core.db import Database

library_app = typer.Typer(help="The official indicator library in the marketplace.", no_args_is_help=True)
payouts_app = typer.Typer(help="Creator payouts.", no_args_is_help=True)
console = Console(soft_wrap=True)


def seed(settings: Settings) -> None:
    """Seed the official library into the configured database (idempotent); prints what it did."""
    from alphabook.marketplace.library import seed_library

    migrations.upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            result = seed_library(session, currency=settings.marketplace_currency)
    finally:
        database.dispose()
    console.print(f"official library: {result.created} listings added, {result.existing} already there"
                  + (f", {len(result.skipped)} left out ({', '.join(result.skipped)})" if result.skipped else ""))


@library_app.command("seed")
def library_seed() -> None:
    """Add the official indicators as free, approved, open listings (running it again changes nothing)."""
    seed(get_settings())


@payouts_app.command("run")
def payouts_run() -> None:
    """Queue every creator balance above the minimum and send the queued payouts."""
    from alphabook.payments.payouts import run_payouts
    from alphabook.payments.providers import build_provider

    settings = get_settings()
    database = Database(settings.effective_database_url)
    try:
        settled = run_payouts(database, settings, build_provider(settings))
    finally:
        database.dispose()
    for payout in settled:
        console.print(f"payout {payout.id}: {payout.amount} to creator {payout.creator_id}: {payout.status}"
                      + (f" ({payout.failure})" if payout.failure else ""))
    console.print(f"{len(settled)} payouts processed")
