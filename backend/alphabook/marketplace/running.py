"""Running what you bought: the entitlement is checked, then the pinned version runs in the sandbox.

Protected code never leaves the server: it runs in :mod:`alphabook.sandbox` on the caller's bars and only the
output comes back. Parameters are checked against the version's schema first, so a typo is a clear error
rather than a sandbox failure. The sandbox runs outside any transaction (:func:`end_transaction`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.db import end_transaction
from alphabook.core.errors import Conflict, InvalidInput
from alphabook.marketplace.entitlements import require_access
from alphabook.marketplace.models import Listing, ListingKind, ListingVersion
from alphabook.marketplace.params import resolve
from alphabook.sandbox.base import Executor

__all__ = ["bars_from_columns", "run_listing"]


def bars_from_columns(columns: Mapping[str, list[Any]]) -> pd.DataFrame:
    """An OHLCV frame from JSON columns (``time`` plus open/high/low/close/volume), checked by #3's convention."""
    from alphabook.research.data.frame import to_ohlcv

    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise InvalidInput("Every column of 'bars' must have the same length.")
    try:
        frame = pd.DataFrame(dict(columns))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"'bars' is not a table of columns: {exc}") from None
    return to_ohlcv(frame)


def run_listing(session: Session, user: User, listing: Listing, bars: pd.DataFrame, params: Mapping[str, Any],
                executor: Executor | None = None,
                version_name: str | None = None) -> tuple[ListingVersion, pd.DataFrame]:
    from alphabook.sandbox.service import run_indicator

    version = require_access(session, user, listing, version_name)
    if listing.kind == ListingKind.NOTEBOOK:
        raise Conflict(f"{listing.slug} is a notebook: open it in the sandboxed kernel instead.")
    resolved = resolve(version.parameter_schema, params)
    end_transaction(session)
    return version, run_indicator(version.code, bars, resolved, executor=executor)
