"""Verified backtests: a listing's numbers re-produced by the platform, reproducibly, and signed.

Every night (``notebooks/jobs/verified-backtests.ipynb``) each approved indicator and strategy is run again: its
active version, on a pinned dataset (the bundled Alphabet daily bars the checks use, identified by the SHA-256 of
their canonical CSV), with its default parameters and a fixed seed, in the sandbox. The record keeps the report
(the backtest's metrics for a strategy; the output's summary and fingerprint for an indicator), the data hash, the
code hash and the environment (package versions), and is signed with HMAC-SHA256 under the platform's key, so the
listing page can show a "verified" badge whose record cannot be edited unnoticed, and anyone can ask for a re-run
and compare (:func:`recheck`). :mod:`hashlib` and :mod:`hmac` do the cryptography; the backtest is #3's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import platform
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Base, Database, end_transaction
from alphabook.core.errors import NotFound
from alphabook.marketplace import checks
from alphabook.marketplace.models import Listing, ListingKind, ListingStatus, ListingVersion
from alphabook.marketplace.params import resolve
from alphabook.sandbox.base import Executor

__all__ = ["DATASET", "Recheck", "VerifiedBacktest", "latest", "recheck", "signature_valid", "verify_listing"]

DATASET = "NASDAQ:GOOG 1d, last 1000 bars (bundled)"
SEED = 20_240_101
PACKAGES = ("alphabook", "numpy", "pandas", "vectorbt", "ta-lib", "restrictedpython")
KEY_NAME = "verification_key"


class VerifiedBacktest(Base):
    __tablename__ = "verified_backtests"

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("listing_versions.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(40))
    dataset: Mapped[str] = mapped_column(String(120))
    data_sha256: Mapped[str] = mapped_column(String(64))
    code_sha256: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(Integer)
    environment: Mapped[dict[str, Any]]
    report: Mapped[dict[str, Any]]
    signature: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    def signed_content(self) -> bytes:
        """Exactly what the signature covers: every field but the id, as canonical JSON."""
        return json.dumps({
            "listing_id": self.listing_id, "version": self.version, "dataset": self.dataset,
            "data_sha256": self.data_sha256, "code_sha256": self.code_sha256, "parameters": self.parameters,
            "seed": self.seed, "environment": self.environment, "report": self.report,
            "created_at": self.created_at.isoformat()}, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Recheck:
    """A fresh run compared with the record: which numbers differ, and whether the record is untouched."""

    signature_valid: bool
    same_data: bool
    same_code: bool
    differences: dict[str, tuple[Any, Any]]

    @property
    def reproduced(self) -> bool:
        return self.signature_valid and self.same_data and self.same_code and not self.differences


def data_sha256(bars: pd.DataFrame) -> str:
    columns = bars[["open", "high", "low", "close", "volume"]]
    canonical = columns.to_csv(float_format="%.10g", date_format="%Y-%m-%dT%H:%M:%SZ")
    return hashlib.sha256(canonical.encode()).hexdigest()


def _environment() -> dict[str, Any]:
    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"python": platform.python_version(), **{name: installed(name) for name in PACKAGES}}


def _number(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else round(number, 9)
    return value


def _report(kind: str, bars: pd.DataFrame, output: pd.DataFrame) -> dict[str, Any]:
    """What the record vouches for: the output's fingerprint and summary, and for strategies the backtest."""
    values = np.ascontiguousarray(output.to_numpy(dtype=float).round(9))
    report: dict[str, Any] = {
        "output_sha256": hashlib.sha256(values.tobytes()).hexdigest(),
        "columns": {str(name): {"last": _number(column.iloc[-1]), "mean": _number(column.mean()),
                                "min": _number(column.min()), "max": _number(column.max()),
                                "missing": int(column.isna().sum())} for name, column in output.items()}}
    if kind == ListingKind.STRATEGY:
        backtest = checks.backtest_summary(bars, output, trials=1)
        report["backtest"] = {key: _number(value) for key, value in backtest.items()
                              if not isinstance(value, dict | list)}
    return report


def code_sha256(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _sign(record: VerifiedBacktest, settings: Settings) -> str:
    key = settings.secret(KEY_NAME).encode()
    return hmac.new(key, record.signed_content(), hashlib.sha256).hexdigest()


def signature_valid(record: VerifiedBacktest, settings: Settings) -> bool:
    return hmac.compare_digest(record.signature, _sign(record, settings))


def _run(active: ListingVersion, kind: str, executor: Executor | None, seed: int) -> tuple[pd.DataFrame, dict[str, Any],
                                                                                         dict[str, Any]]:
    from alphabook.sandbox.service import run_indicator

    bars = checks.reference_bars()
    params = resolve(active.parameter_schema, {})
    np.random.seed(seed)  # the host's part; sandboxed code has no randomness to seed
    output = run_indicator(active.code, bars, params, executor=executor)
    return bars, params, _report(kind, bars, output)


def verify_listing(database: Database, listing_id: int, settings: Settings,
                   executor: Executor | None = None) -> VerifiedBacktest:
    """Run the listing's active version on the pinned dataset, and store the signed record.

    The sandbox runs between two short transactions, not inside one: on SQLite any transaction holds the one write
    lock, and the scheduler's heartbeat (and every other writer) would wait on it for as long as the code runs."""
    with database.session() as session:
        listing = session.get(Listing, listing_id)
        active = listing.active_version if listing is not None else None
        if (listing is None or active is None or listing.status != ListingStatus.APPROVED
                or listing.kind == ListingKind.NOTEBOOK):
            raise NotFound(f"Listing {listing.slug if listing else listing_id} has no approved indicator or strategy "
                           "version to verify.")
    bars, params, report = _run(active, listing.kind, executor, SEED)  # loaded: the session expires nothing
    record = VerifiedBacktest(listing_id=listing_id, version_id=active.id, version=active.version, dataset=DATASET,
                              data_sha256=data_sha256(bars), code_sha256=code_sha256(active.code),
                              parameters=params, seed=SEED, environment=_environment(), report=report,
                              signature="", created_at=utcnow().replace(microsecond=0))
    record.signature = _sign(record, settings)
    with database.session() as session:
        session.add(record)
    return record


def latest(session: Session, listing: Listing) -> VerifiedBacktest | None:
    return session.scalar(select(VerifiedBacktest).where(VerifiedBacktest.listing_id == listing.id)
                          .order_by(VerifiedBacktest.id.desc()).limit(1))


def recheck(session: Session, record: VerifiedBacktest, settings: Settings,
            executor: Executor | None = None) -> Recheck:
    """Re-run what the record describes and compare every number (the record's own version, data and seed)."""
    version_row = session.get(ListingVersion, record.version_id)
    listing = session.get(Listing, record.listing_id)
    if version_row is None or listing is None:
        raise NotFound("The verified version no longer exists.")
    end_transaction(session)
    bars, _, report = _run(version_row, listing.kind, executor, record.seed)
    differences = {key: (record.report.get(key), value) for key, value in report.items()
                   if record.report.get(key) != value}
    return Recheck(signature_valid=signature_valid(record, settings), same_data=data_sha256(bars) == record.data_sha256,
                   same_code=code_sha256(version_row.code) == record.code_sha256, differences=differences)
