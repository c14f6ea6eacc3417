"""``alphabook trading …``: the order dispatcher as its own process, and the keys that encrypt trading secrets."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from alphabook.core import migrations
from alphabook.core.config import get_settings
from alphabook.core.db import Database

app = typer.Typer(help="Webhook order routing: the order dispatcher and the keys of trading secrets.",
                  no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("dispatch")
def dispatch(once: Annotated[bool, typer.Option(help="One round, then exit.")] = False) -> None:
    """Send the orders waiting in the outbox and record brokers' answers, until stopped (Ctrl+C, SIGTERM).

    Any number may run beside each other and beside the API's own dispatcher threads: they share the work."""
    from alphabook.trading.outbox import Dispatcher

    settings = get_settings()
    migrations.upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    dispatcher = Dispatcher(database, settings)
    try:
        if once:
            console.print(f"{dispatcher.run_once()} outbox messages handled, "
                          f"{dispatcher.refresh_open_orders()} working orders refreshed")
            return
        stop = threading.Event()

        def finish(signum: int, frame: FrameType | None) -> None:
            stop.set()
            dispatcher.wake()

        signal.signal(signal.SIGTERM, finish)
        signal.signal(signal.SIGINT, finish)
        console.print("dispatching orders; stop with Ctrl+C", highlight=False)
        dispatcher.run_forever(stop)
    finally:
        database.dispose()


@app.command("new-key")
def new_key() -> None:
    """Print a new Fernet key, for ALPHABOOK_TRADING_FERNET_KEY (put it first, keep the old one after it)."""
    from cryptography.fernet import Fernet

    console.print(Fernet.generate_key().decode("ascii"), highlight=False)


@app.command("rotate-key")
def rotate_key() -> None:
    """Encrypt every stored secret (broker keys, hook and webhook secrets, AI keys, two-factor seeds) again with
    the first configured key."""
    from alphabook.core.secrets_at_rest import cipher_for, reencrypt_all
    from alphabook.models import Base

    settings = get_settings()
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            count = reencrypt_all(session, cipher_for(settings), Base.metadata)
    finally:
        database.dispose()
    console.print(f"{count} secrets re-encrypted with the first key; older keys may now be removed")
