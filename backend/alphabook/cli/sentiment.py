"""``alphabook sentiment refresh``: read the news feeds, score the stories and recompute the Fear & Greed index.

The same verb as the ``sentiment-refresh`` platform job (:func:`alphabook.sentiment.service.refresh`), for an
operator or a cron line. It exits 1 when a feed failed or the index could not be computed, after storing
whatever did work, so a scheduler notices.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from alphabook.core.config import Settings, get_settings
from alphabook.core.db import Database

app = typer.Typer(help="News sentiment and the Fear & Greed index.", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)


@app.command("refresh")
def refresh(feed: Annotated[list[str] | None, typer.Option(
        help="A feed to read instead of ALPHABOOK_NEWS_FEEDS (repeat for several): URL, file:// URL or path.")] = None,
            ) -> None:
    """Fetch the feeds, store new and updated stories with their scores, and store a Fear & Greed snapshot."""
    from alphabook.sentiment.service import refresh as run_refresh

    settings = get_settings()
    database = Database(settings.effective_database_url)
    try:
        report = run_refresh(database, settings, feed)
    finally:
        database.dispose()
    for line in report.lines():
        console.print(line, markup=False)
    if report.failed_feeds or report.fear_greed is None:
        raise typer.Exit(1)


def first_refresh(settings: Settings) -> None:
    """On an installation's first start, compute the market mood once from the bundled sample feed, so the
    Market page and the endpoints answer before anyone schedules the job. Configured feeds are left to the job:
    a start must not wait on someone else's server."""
    from sqlalchemy import select

    from alphabook.sentiment.models import FearGreedSnapshot
    from alphabook.sentiment.service import refresh as run_refresh

    if settings.news_feeds:
        return
    database = Database(settings.effective_database_url)
    try:
        with database.session() as session:
            if session.scalars(select(FearGreedSnapshot.id).limit(1)).first() is not None:
                return
        report = run_refresh(database, settings)
    finally:
        database.dispose()
    console.print(report.lines()[0], markup=False)
