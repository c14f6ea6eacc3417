"""A trading account's watchlists and saved strategies: the trader's own notes, which an upgrade keeps.

Both hang off the account (``account_id``, deleted with it), not off a user, so a demo has them before its
holder signs up and the upgrade to a paper account carries them over without copying a row. Names are unique
per account; the unique constraint, not a look-up first, decides between two requests that pick the same name.

A saved strategy points at what it runs: a marketplace listing (``creator/name``, a version and its
parameters) or a notebook (a path in the trader's own server). It is a bookmark, not a licence: whether the
account's owner may run the listing is checked when it runs, by the marketplace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from alphabook.accounts.models import Role
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.db import Base
from alphabook.core.errors import Conflict, InvalidInput, NotFound
from alphabook.marketplace.models import Listing, VersionStatus
from alphabook.trading.models import TradingAccount

__all__ = ["MAX_PARAMS_BYTES", "MAX_SYMBOLS", "SavedStrategy", "StrategyKind", "Watchlist", "create_watchlist",
           "delete_strategy", "delete_watchlist", "get_strategy", "get_watchlist", "save_strategy",
           "strategies_of", "update_strategy", "update_watchlist", "watchlists_of"]

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
MAX_SYMBOLS = 200
MAX_PARAMS_BYTES = 16_384
#: Exchange symbols as ccxt, Alpaca and TradingView write them: AAPL, BTC/USDT, BTC/USDT:USDT, BINANCE:BTCUSDT
SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9._:/!-]{0,39}")


class StrategyKind(StrEnum):
    LISTING = "listing"  # a marketplace listing at a version, with its parameters
    NOTEBOOK = "notebook"  # a notebook in the trader's server, by path


class Watchlist(Base):
    """Symbols a trader keeps an eye on, under a name of their choosing."""

    __tablename__ = "watchlists"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_watchlists_account_id_name"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    symbols: Mapped[list[str]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SavedStrategy(Base):
    """A strategy kept for later: a listing at a version with parameters, or a notebook's path."""

    __tablename__ = "saved_strategies"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_saved_strategies_account_id_name"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(8))
    listing_slug: Mapped[str | None] = mapped_column(String(130))  # kind "listing"
    listing_version: Mapped[str | None] = mapped_column(String(40))  # kind "listing"
    notebook_path: Mapped[str | None] = mapped_column(String(500))  # kind "notebook"
    params: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --- watchlists -------------------------------------------------------------------------------------------


def watchlists_of(session: Session, account: TradingAccount) -> list[Watchlist]:
    return list(session.scalars(select(Watchlist).where(Watchlist.account_id == account.id).order_by(Watchlist.id)))


def get_watchlist(session: Session, account: TradingAccount, watchlist_id: int) -> Watchlist:
    watchlist = session.get(Watchlist, watchlist_id)
    if watchlist is None or watchlist.account_id != account.id:
        raise NotFound(f"Account {account.id} has no watchlist {watchlist_id}.")
    return watchlist


def create_watchlist(session: Session, account: TradingAccount, *, name: str, symbols: Sequence[str],
                     actor: str) -> Watchlist:
    now = utcnow()
    watchlist = Watchlist(account_id=account.id, name=_name(name), symbols=_symbols(symbols), created_at=now,
                          updated_at=now)
    _insert_named(session, watchlist, "watchlist")
    audit.record(session, actor=actor, action="watchlist.created", subject=_subject(account),
                 watchlist_id=watchlist.id, name=watchlist.name, symbols=len(watchlist.symbols))
    return watchlist


def update_watchlist(session: Session, watchlist: Watchlist, *, name: str | None = None,
                     symbols: Sequence[str] | None = None, actor: str) -> Watchlist:
    if name is not None:
        watchlist.name = _name(name)
    if symbols is not None:
        watchlist.symbols = _symbols(symbols)
    watchlist.updated_at = utcnow()
    _flush_named(session, watchlist.name, "watchlist")
    audit.record(session, actor=actor, action="watchlist.updated", subject=f"trading_account:{watchlist.account_id}",
                 watchlist_id=watchlist.id, name=watchlist.name, symbols=len(watchlist.symbols))
    return watchlist


def delete_watchlist(session: Session, watchlist: Watchlist, *, actor: str) -> None:
    audit.record(session, actor=actor, action="watchlist.deleted", subject=f"trading_account:{watchlist.account_id}",
                 watchlist_id=watchlist.id, name=watchlist.name)
    session.delete(watchlist)
    session.flush()


# --- saved strategies -------------------------------------------------------------------------------------


def strategies_of(session: Session, account: TradingAccount) -> list[SavedStrategy]:
    return list(session.scalars(select(SavedStrategy).where(SavedStrategy.account_id == account.id)
                                .order_by(SavedStrategy.id)))


def get_strategy(session: Session, account: TradingAccount, strategy_id: int) -> SavedStrategy:
    strategy = session.get(SavedStrategy, strategy_id)
    if strategy is None or strategy.account_id != account.id:
        raise NotFound(f"Account {account.id} has no saved strategy {strategy_id}.")
    return strategy


def save_strategy(session: Session, account: TradingAccount, *, name: str, kind: str, listing: str | None = None,
                  version: str | None = None, path: str | None = None, params: dict[str, Any] | None = None,
                  actor: str) -> SavedStrategy:
    """Keep a listing at ``version`` (which must exist and be visible to the account's owner) or a notebook's
    ``path`` (relative to the trader's home, ending ``.ipynb``) under ``name``."""
    if kind == StrategyKind.LISTING:
        if path is not None or listing is None or version is None:
            raise InvalidInput("A saved listing needs 'listing' (creator/name) and 'version', and no 'path'.")
        _check_listing(session, account, listing, version)
    elif kind == StrategyKind.NOTEBOOK:
        if listing is not None or version is not None or path is None:
            raise InvalidInput("A saved notebook needs 'path', and no 'listing' or 'version'.")
        path = _notebook_path(path)
    else:
        raise InvalidInput(f"A saved strategy is a 'listing' or a 'notebook', not {kind!r}.")
    now = utcnow()
    strategy = SavedStrategy(account_id=account.id, name=_name(name), kind=kind, listing_slug=listing,
                             listing_version=version, notebook_path=path, params=_params(params or {}),
                             created_at=now, updated_at=now)
    _insert_named(session, strategy, "saved strategy")
    audit.record(session, actor=actor, action="saved_strategy.created", subject=_subject(account),
                 strategy_id=strategy.id, name=strategy.name, kind=kind, listing=listing, version=version, path=path)
    return strategy


def update_strategy(session: Session, account: TradingAccount, strategy: SavedStrategy, *, name: str | None = None,
                    version: str | None = None, path: str | None = None, params: dict[str, Any] | None = None,
                    actor: str) -> SavedStrategy:
    """Rename it, move a listing to another version, a notebook to another path, or change the parameters."""
    if version is not None:
        if strategy.kind != StrategyKind.LISTING or strategy.listing_slug is None:
            raise InvalidInput("Only a saved listing has a version; a notebook has a 'path'.")
        _check_listing(session, account, strategy.listing_slug, version)
        strategy.listing_version = version
    if path is not None:
        if strategy.kind != StrategyKind.NOTEBOOK:
            raise InvalidInput("Only a saved notebook has a path; a listing has a 'version'.")
        strategy.notebook_path = _notebook_path(path)
    if name is not None:
        strategy.name = _name(name)
    if params is not None:
        strategy.params = _params(params)
    strategy.updated_at = utcnow()
    _flush_named(session, strategy.name, "saved strategy")
    audit.record(session, actor=actor, action="saved_strategy.updated", subject=_subject(account),
                 strategy_id=strategy.id, name=strategy.name, version=strategy.listing_version,
                 path=strategy.notebook_path)
    return strategy


def delete_strategy(session: Session, strategy: SavedStrategy, *, actor: str) -> None:
    audit.record(session, actor=actor, action="saved_strategy.deleted",
                 subject=f"trading_account:{strategy.account_id}", strategy_id=strategy.id, name=strategy.name)
    session.delete(strategy)
    session.flush()


# --- rules ----------------------------------------------------------------------------------------------


def _subject(account: TradingAccount) -> str:
    return f"trading_account:{account.id}"


def _name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 80:
        raise InvalidInput("A name has 1 to 80 characters.")
    return cleaned


def _symbols(symbols: Sequence[str]) -> list[str]:
    """Upper-cased, in the order given, each once; at most :data:`MAX_SYMBOLS`."""
    result: list[str] = []
    for raw in symbols:
        symbol = raw.strip().upper()
        if not SYMBOL.fullmatch(symbol):
            raise InvalidInput(f"{raw!r} is not a symbol: write it as the exchange does, e.g. AAPL, BTC/USDT or "
                               "BINANCE:BTCUSDT (letters, digits and . _ : / ! -, at most 40).")
        if symbol not in result:
            result.append(symbol)
    if len(result) > MAX_SYMBOLS:
        raise InvalidInput(f"A watchlist holds at most {MAX_SYMBOLS} symbols; split it in two.")
    return result


def _params(params: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(params, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInput("Parameters must be plain JSON (no NaN or infinity).") from exc
    if size > MAX_PARAMS_BYTES:
        raise InvalidInput(f"Parameters take {size} bytes as JSON; keep them under {MAX_PARAMS_BYTES}.")
    return params


def _notebook_path(path: str) -> str:
    """A path inside the trader's home: relative, no ``..``, ending ``.ipynb``."""
    candidate = PurePosixPath(path.strip())
    if (not path.strip() or candidate.is_absolute() or ".." in candidate.parts or "\\" in path or "\x00" in path
            or candidate.suffix != ".ipynb" or len(str(candidate)) > 500):
        raise InvalidInput(f"{path!r} is not a notebook path: give it relative to your home folder, "
                           "e.g. research/momentum.ipynb.")
    return str(candidate)


def _check_listing(session: Session, account: TradingAccount, slug: str, version: str) -> None:
    from alphabook.marketplace.listings import visible_to  # here: the listings service pulls in its checks

    listing = session.scalar(select(Listing).where(Listing.slug == slug))
    owner = account.owner
    if listing is None or not visible_to(listing, owner):
        raise InvalidInput(f"There is no listing {slug}: save one you can see in the marketplace.")
    staff = owner is not None and (owner.id == listing.creator_id or owner.has_role(Role.ADMIN.value))
    if not any(found.version == version and (staff or found.status == VersionStatus.APPROVED)
               for found in listing.versions):
        raise InvalidInput(f"{slug} has no published version {version}.")


def _insert_named(session: Session, row: Watchlist | SavedStrategy, what: str) -> None:
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise Conflict(f"This account already has a {what} named {row.name!r}; pick another name.") from exc


def _flush_named(session: Session, name: str, what: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"This account already has a {what} named {name!r}; pick another name.") from exc
