"""The ``alphabook`` command line: start everything, migrate, manage users, show configuration.

Typer does the parsing and help; rich prints tables. Long-running commands print where to go next.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.table import Table

from alphabook import __version__
from alphabook.cli.demo import app as demo_app
from alphabook.cli.jobs import jobs_app, scheduler_app
from alphabook.cli.kernels import app as kernels_app
from alphabook.cli.marketplace import library_app, payouts_app, seed
from alphabook.cli.sandbox import app as sandbox_app
from alphabook.cli.sentiment import app as sentiment_app
from alphabook.cli.sentiment import first_refresh
from alphabook.cli.trading import app as trading_app
from alphabook.core import migrations
from alphabook.core.config import PROJECT_ROOT, get_settings
from alphabook.core.db import Database
from alphabook.core.errors import AlphabookError

app = typer.Typer(help="alphabook: research trading ideas in Jupyter notebooks, and sell what you build.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
user_app = typer.Typer(help="Manage password accounts.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(config_app, name="config")
app.add_typer(kernels_app, name="kernels")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(library_app, name="library")
app.add_typer(payouts_app, name="payouts")
app.add_typer(demo_app, name="demo")
app.add_typer(trading_app, name="trading")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(jobs_app, name="jobs")
app.add_typer(sentiment_app, name="sentiment")
console = Console(soft_wrap=True)

HUB_CONFIG = PROJECT_ROOT / "hub" / "jupyterhub_config.py"


@app.command()
def version() -> None:
    """Print the alphabook version."""
    console.print(f"alphabook {__version__}")


@app.command()
def run() -> None:
    """Start everything: JupyterHub, its proxy and the alphabook services, on the configured port."""
    from alphabook.accounts.bootstrap import ensure_admin

    settings = get_settings()
    settings.ensure_home()
    migrations.upgrade(settings.effective_database_url)
    admin = ensure_admin(settings, Database(settings.effective_database_url))
    seed(settings)
    first_refresh(settings)
    if admin.new_password:
        password = f"[bold]{admin.new_password}[/bold]  (shown once; kept in {admin.password_file})"
    elif settings.admin_password:
        password = "the value of ALPHABOOK_ADMIN_PASSWORD"  # noqa: S105 (a description, not a password)
    else:
        password = f"in {admin.password_file}"
    console.print(f"\n[green]alphabook {__version__}[/green] is starting JupyterHub; when it is up:")
    console.print(f"  marketplace {settings.base_url}/services/dashboards/   (browse and try a demo account, no login)")
    console.print(f"  open        {settings.base_url}/hub/login   (new here? {settings.base_url}/hub/signup)")
    console.print(f"  admin       [bold]{admin.name}[/bold], password {password}")
    console.print(f"  API docs    {settings.base_url}/services/api/api/docs")
    console.print(f"  data        {settings.home}   database {_safe_url(settings.effective_database_url)}")
    console.print("  stop        Ctrl+C\n")
    jupyterhub = Path(sys.executable).parent / "jupyterhub"
    os.execv(str(jupyterhub), [str(jupyterhub), "-f", str(HUB_CONFIG)])


@app.command("api", hidden=True)
def serve_api() -> None:
    """Serve the API (JupyterHub starts this as the managed service 'api')."""
    import uvicorn

    settings = get_settings()
    service_url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{settings.api_port}"))
    # Each worker process builds its own app from the same environment, hence the factory's import path.
    uvicorn.run(
        "alphabook.api.main:create_server_app",
        factory=True,
        workers=settings.api_workers,
        host=service_url.hostname or "127.0.0.1",
        port=service_url.port or settings.api_port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=2,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    settings = get_settings()
    migrations.upgrade(settings.effective_database_url, revision)
    console.print(f"database {_safe_url(settings.effective_database_url)} is at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")]) -> None:
    """Migrate the database down to REVISION."""
    settings = get_settings()
    migrations.downgrade(settings.effective_database_url, revision)
    console.print(f"database {_safe_url(settings.effective_database_url)} is at {revision}")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="Username (also the Unix account name).")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
) -> None:
    """Create a password account (or reset its password)."""
    from alphabook.accounts.passwords import PasswordPolicy, set_password

    settings = get_settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    migrations.upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            set_password(session, name, password, PasswordPolicy.from_settings(settings), actor="cli")
    except AlphabookError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    console.print(f"user [bold]{name}[/bold] can now log in at {settings.base_url}/hub/login")


@user_app.command("reset-2fa")
def user_reset_two_factor(
    name: Annotated[str, typer.Argument(help="The account's username.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log), e.g. how you checked who asked.")],
) -> None:
    """Switch off NAME's two-factor sign-in, for someone who lost both their device and their recovery codes."""
    from alphabook.accounts import two_factor
    from alphabook.accounts.service import find_user

    settings = get_settings()
    migrations.upgrade(settings.effective_database_url)
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            person = find_user(session, name)
            if person is None:
                console.print(f"[red]error:[/red] there is no user {name!r}")
                raise typer.Exit(1)
            was_on = two_factor.reset(session, person, actor="cli", reason=reason)
    finally:
        database.dispose()
    console.print(f"two-factor sign-in of [bold]{name}[/bold] is off; they sign in with their password and can "
                  "turn it on again at /hub/2fa" if was_on else f"{name} had no two-factor sign-in")


@config_app.command("show")
def config_show() -> None:
    """Print every setting's effective value (secrets masked), its variable and what it is for."""
    settings = get_settings()
    table = Table("variable", "value", "meaning", show_lines=False)
    for name, value, help_text in settings.described():
        table.add_row(name, value, help_text)
    console.print(table)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
