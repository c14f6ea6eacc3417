"""API shapes of trading accounts, watchlists and saved strategies (pydantic at the edge; rows stay inside).

Cash travels as ``{"amount_minor": 10000000, "currency": "USD"}`` plus a display string, never as a float.
An account's shape is the same for every kind; the demo fields (``days_left``, ``deleted_after``, ``email``)
are null for accounts that do not expire. The cookie token is never part of any shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from alphabook.core.config import Settings
from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money
from alphabook.marketplace.schemas import MoneyOut
from alphabook.trading import accounts
from alphabook.trading.credentials import BrokerSecrets
from alphabook.trading.models import AccountKind, BrokerCredential, TradingAccount
from alphabook.trading.watchlists import MAX_SYMBOLS, SavedStrategy

__all__ = ["AccountOut", "BrokerKeysIn", "BrokerOut", "BrokerRotateIn", "CashIn", "DemoRenewIn", "LiveAccountIn",
           "PaperAccountIn", "StrategyIn", "StrategyOut", "StrategyPatch", "WatchlistIn", "WatchlistOut",
           "WatchlistPatch"]


def _email(value: str) -> str:
    try:
        return accounts.check_email(value)
    except InvalidInput as exc:  # pydantic reports ValueErrors as a field error (a 422 naming the field)
        raise ValueError(exc.detail) from exc


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Symbol = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]


class AccountOut(BaseModel):
    id: int
    kind: str = Field(description="'demo', 'paper' or 'live'.")
    status: str = Field(description="'active', 'read_only' (an expired demo: visible, changes nothing) or 'closed'.")
    name: str
    broker: str
    currency: str
    starting_cash: MoneyOut
    kill_switch: bool
    created_at: datetime
    expires_at: datetime | None = Field(description="When a demo stops trading; null for other accounts.")
    days_left: int | None = Field(description="Whole days until a demo expires (0 once it has).")
    deleted_after: datetime | None = Field(description="When an expired demo that was not renewed is deleted.")
    email: str | None = Field(description="The email a demo was renewed with.")

    @classmethod
    def of(cls, account: TradingAccount, settings: Settings, now: datetime) -> AccountOut:
        demo = account.kind == AccountKind.DEMO
        return cls(id=account.id, kind=account.kind, status=accounts.effective_status(account, now), name=account.name,
                   broker=account.broker, currency=account.currency, starting_cash=MoneyOut.of(account.starting_cash),
                   kill_switch=account.kill_switch, created_at=account.created_at, expires_at=account.expires_at,
                   days_left=accounts.days_left(account, now), deleted_after=accounts.deletion_due(account, settings),
                   email=account.demo_email if demo else None)


class CashIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: int = Field(gt=0, le=accounts.MAX_STARTING_CASH_MINOR,
                              description="Integer minor units (cents): 10000000 is 100,000.00 USD.")
    currency: str = Field(default="USD", min_length=3, max_length=3)

    def to_money(self) -> Money:
        return Money(self.amount_minor, self.currency)


class PaperAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = "Paper account"
    starting_cash: CashIn | None = Field(default=None, description="Virtual cash; omitted: what a demo starts with.")


class BrokerKeysIn(BaseModel):
    """A broker account's API keys. They are write-only: no answer of the API ever contains them (or any part)."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=1, max_length=512, description="The venue's API key (key id at Alpaca).")
    secret: SecretStr = Field(min_length=1, max_length=4096, description="The key's secret.")
    password: SecretStr | None = Field(default=None, max_length=512,
                                       description="The API passphrase some venues add (OKX, KuCoin, Coinbase).")
    options: dict[str, Any] | None = Field(
        default=None, description="Adapter options: quote_currency (ccxt, default USDT), market_type (spot, swap, "
        "future); endpoints (urls, config, base_url, retry) only where the operator allows them. Omitted when "
        "replacing keys: the stored options stay.")
    verify: bool = Field(default=True, description="Log in at the venue and read the balances before saving, so "
                         "wrong keys are refused at once (422), and an unreachable venue saves nothing (503).")

    def to_secrets(self) -> BrokerSecrets:
        return BrokerSecrets(api_key=self.api_key.get_secret_value(), secret=self.secret.get_secret_value(),
                             password=self.password.get_secret_value() if self.password else None,
                             options=self.options)


class LiveAccountIn(BrokerKeysIn):
    name: Name = "Live account"
    venue: str = Field(min_length=2, max_length=40, pattern=r"^[a-z0-9_]+$",
                       description="'alpaca', or a ccxt exchange id such as 'binance' or 'kraken'.")
    sandbox: bool = Field(description="True: the venue's testnet (ccxt) or paper endpoint (Alpaca); false: real "
                          "money. Paper hooks never route to a real-money account.")
    currency: str | None = Field(default=None, min_length=3, max_length=3,
                                 description="The account's currency; omitted: USD at Alpaca, the quote currency "
                                 "at a ccxt exchange (USD for dollar stablecoins).")


class BrokerRotateIn(BrokerKeysIn):
    sandbox: bool | None = Field(default=None, description="Switch endpoint (testnet/paper or real money); "
                                 "omitted: unchanged.")


class BrokerOut(BaseModel):
    """Which broker an account trades at, never its keys."""

    account_id: int
    broker: str = Field(description="'paper', 'ccxt' or 'alpaca'.")
    venue: str | None = Field(description="'alpaca' or the ccxt exchange id; null for a paper account.")
    sandbox: bool | None = Field(description="Whether the keys are for the venue's testnet or paper endpoint.")
    connected: bool = Field(description="Whether keys are stored.")
    connected_at: datetime | None
    rotated_at: datetime | None = Field(description="When the keys were last replaced.")
    live: bool = Field(description="Whether the account's orders move real money (only live hooks reach it).")

    @classmethod
    def of(cls, account: TradingAccount, credential: BrokerCredential | None, live: bool) -> BrokerOut:
        return cls(account_id=account.id, broker=account.broker,
                   venue=credential.venue if credential else None, sandbox=credential.sandbox if credential else None,
                   connected=credential is not None, connected_at=credential.created_at if credential else None,
                   rotated_at=credential.rotated_at if credential else None, live=live)


class DemoRenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = Field(description="Where to reach you; renewing keeps the demo another period from today.")


class WatchlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    symbols: list[Symbol] = Field(default=[], max_length=MAX_SYMBOLS, description="e.g. AAPL, BTC/USDT.")


class WatchlistPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    symbols: list[Symbol] | None = Field(default=None, max_length=MAX_SYMBOLS)


class WatchlistOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    symbols: list[str]
    created_at: datetime
    updated_at: datetime


class StrategyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: Literal["listing", "notebook"]
    listing: str | None = Field(default=None, max_length=130, description="A listing's creator/name (kind listing).")
    version: str | None = Field(default=None, max_length=40, description="The listing's version (kind listing).")
    path: str | None = Field(default=None, max_length=500,
                             description="A notebook relative to your home folder (kind notebook).")
    params: dict[str, Any] = Field(default={}, description="Parameters to run it with (JSON, up to 16 KB).")


class StrategyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    version: str | None = Field(default=None, max_length=40)
    path: str | None = Field(default=None, max_length=500)
    params: dict[str, Any] | None = None


class StrategyOut(BaseModel):
    id: int
    name: str
    kind: str
    listing: str | None
    version: str | None
    path: str | None
    params: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, strategy: SavedStrategy) -> StrategyOut:
        return cls(id=strategy.id, name=strategy.name, kind=strategy.kind, listing=strategy.listing_slug,
                   version=strategy.listing_version, path=strategy.notebook_path, params=strategy.params,
                   created_at=strategy.created_at, updated_at=strategy.updated_at)
