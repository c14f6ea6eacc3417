"""The one place alphabook's configuration is declared.

pydantic-settings does the heavy lifting: every setting has a type, a real default and help text, and
is read from ``ALPHABOOK_<NAME>`` environment variables or an optional ``.env`` file. Zero
configuration must work, so every default points into one home folder (``./var`` under the checkout)
and secrets that do not exist yet are generated there on first use, readable only by their owner.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from alphabook.core.money import normalize_currency

#: The checkout this package was installed from (an editable install is the supported layout).
PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    """Effective configuration, shared by the hub, the API service and the CLI."""

    model_config = SettingsConfigDict(
        env_prefix="ALPHABOOK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Folder for the database file, hub state, logs and generated secrets.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means the embedded SQLite file <home>/alphabook.db. "
        "Use postgresql+psycopg://user@host:5432/name for PostgreSQL.",
    )
    hub_ip: str = Field(default="127.0.0.1", description="Address the public proxy listens on.")
    hub_port: int = Field(default=8000, description="Port of the public proxy (the URL people open).")
    hub_api_port: int = Field(default=8081, description="Port of the hub's own REST API (internal).")
    proxy_api_port: int = Field(default=8001, description="Port of the proxy's control API (internal).")
    api_port: int = Field(default=8010, description="Port the alphabook API service listens on (internal).")
    dashboards_port: int = Field(default=8020, description="Port the Panel dashboards service listens on (internal).")
    voila_port: int = Field(default=8030, description="Port the Voila notebook-pages service listens on (internal).")
    # --- where things run (one machine by default; containers with docker-compose or Kubernetes, issue #10) ----
    spawner: Literal["local", "docker", "kubernetes"] = Field(default="local", description=(
        "How user servers start: 'local' processes (a Unix account each when root), 'docker' (DockerSpawner: a "
        "container per user from singleuser_image on docker_network), 'kubernetes' (KubeSpawner: a pod each)."))
    singleuser_image: str = Field(default="alphabook/singleuser:0.1", description=(
        "The user-server image for the docker and kubernetes spawners (docker/singleuser.Dockerfile)."))
    docker_network: str = Field(default="alphabook-users", description=(
        "The private Docker network user containers join (docker spawner)."))
    hub_connect_host: str | None = Field(default=None, description=(
        "How user servers and services reach the hub's API when they are not on this machine (e.g. 'hub'); "
        "the hub's API then listens on every interface."))
    services: Literal["managed", "external"] = Field(default="managed", description=(
        "'managed': the hub starts the API, dashboards, Voila and scheduler itself. 'external': each runs in its "
        "own container or pod and the hub only routes to it (api_host, dashboards_host, voila_host) and "
        "authenticates it (the *_service_token settings)."))
    api_host: str = Field(default="127.0.0.1", description="Where the API service listens, for the hub.")
    dashboards_host: str = Field(default="127.0.0.1", description="Where the dashboards service listens.")
    voila_host: str = Field(default="127.0.0.1", description="Where the Voila service listens.")
    api_service_token: SecretStr | None = Field(default=None, description=(
        "The API service's JupyterHub token when services are external (its container's JUPYTERHUB_API_TOKEN)."))
    dashboards_service_token: SecretStr | None = Field(default=None, description=(
        "The dashboards service's JupyterHub token when services are external."))
    voila_service_token: SecretStr | None = Field(default=None, description=(
        "The Voila service's JupyterHub token when services are external."))
    voila_kernels_per_user: int = Field(default=2, ge=1, description=(
        "Notebook pages (each a sandboxed kernel of about 95 MB) one person may have running at once."))
    voila_warm_kernels: int = Field(default=1, ge=0, le=16, description=(
        "Sandboxed kernels the Voila service keeps started, so that a notebook page does not wait for one."))
    voila_cull_idle_seconds: int = Field(default=300, ge=30, description=(
        "A notebook page's kernel idle this long is stopped (closing the page stops it at once)."))
    api_workers: int = Field(default=1, ge=1, le=64, description=(
        "API processes. One per core serves the most requests; with more than one, set redis_url so that rate "
        "limits are counted across them."))
    public_url: str = Field(
        default="",
        description="External base URL if behind another proxy (used for OAuth callbacks); "
        "empty means http://<hub_ip>:<hub_port>.",
    )
    admin_username: str = Field(default="admin", description="Hub administrator created on first start.")
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password of the first administrator; empty means generate one, print it once "
        "and keep it in <home>/secrets/admin_password.",
    )
    open_signup: bool = Field(default=True, description="Whether anyone may sign up from the login page.")
    password_min_length: int = Field(default=10, ge=8, description="Minimum password length at sign-up.")
    password_min_strength: int = Field(
        default=2, ge=0, le=4, description="Minimum zxcvbn score (0-4); rejects common passwords."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins in a row before an account is locked."
    )
    login_lockout_minutes: int = Field(default=15, ge=1, description="How long a locked account stays locked.")
    isolation: Literal["auto", "system-users", "none"] = Field(
        default="auto",
        description="How user servers are isolated: 'system-users' gives each person a Unix account "
        "(needs root); 'none' runs everyone as the hub's user; 'auto' picks system-users when root.",
    )
    user_home_root: Path = Field(default=Path("/home"), description="Where Unix home folders are created.")
    idle_cull_timeout: int = Field(
        default=3600, ge=60, description="Seconds of inactivity after which a user server is stopped."
    )
    token_cache_seconds: int = Field(
        default=60, ge=0, description="How long the API trusts a validated hub token before asking again."
    )
    github_client_id: str = Field(
        default="", description="GitHub OAuth app id; with its secret, enables GitHub login."
    )
    github_client_secret: SecretStr | None = Field(default=None, description="GitHub OAuth app secret.")
    github_url: str = Field(default="https://github.com", description="GitHub (or GitHub Enterprise) base URL.")
    google_client_id: str = Field(
        default="", description="Google OAuth client id; with its secret, enables Google login."
    )
    google_client_secret: SecretStr | None = Field(default=None, description="Google OAuth client secret.")
    sandbox_mode: Literal["bwrap", "unsandboxed-limits-only"] = Field(
        default="bwrap",
        description="How creators' code is isolated: 'bwrap' (bubblewrap, the only safe choice) or, on a machine "
        "without it, 'unsandboxed-limits-only' (OS limits only; announced in the logs and on /api/health).",
    )
    sandbox_bwrap_path: str = Field(default="bwrap", description="The bubblewrap executable.")
    sandbox_pool_size: int = Field(default=0, ge=0, description="Warm sandbox workers; 0 means one per CPU.")
    sandbox_queue_size: int = Field(
        default=0, ge=0,
        description="Calls that may wait for a worker before callers are told to retry; 0: 4 per worker.",
    )
    sandbox_uid_base: int = Field(
        default=61000, ge=1000, description="First of the unprivileged uids sandbox workers run as (one per worker)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log verbosity.")
    payment_provider: Literal["local", "stripe"] = Field(
        default="local",
        description="Who takes buyers' money: 'local' (no network; our own checkout page, for the embedded "
        "default and demos) or 'stripe'.",
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None, description="Stripe secret key (sk_test_… or sk_live_…); its mode decides which events count."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="Stripe webhook signing secret (whsec_…)."
    )
    stripe_api_base: str = Field(default="https://api.stripe.com", description="Stripe's API address.")
    marketplace_currency: str = Field(default="USD", description="Currency listings are priced in (ISO 4217).")
    revenue_split: dict[str, int] = Field(
        default={"indicator": 70, "strategy": 70, "notebook": 70, "copy-trading": 80},
        description="Creator's percentage by product type; the platform keeps the rest.",
    )
    refund_window_days: int = Field(default=14, ge=0, description="Days a buyer may refund a purchase themselves.")
    payout_minimum_minor: int = Field(
        default=1000, ge=1, description="Smallest balance (minor units) the payout worker pays out."
    )
    rate_limit_purchase: str = Field(default="10/minute", description="Purchases per user and per IP.")
    rate_limit_review: str = Field(default="20/minute", description="Ratings per user and per IP.")
    rate_limit_flag: str = Field(default="10/minute", description="Flags per user and per IP.")
    redis_url: str = Field(default="", description="Redis for shared rate limits across processes; empty: in memory.")

    # --- copy trading (alphabook.trading.copy) -------------------------------------------
    copy_verification_tolerance_bp: int = Field(
        default=500, ge=0,
        description="How far a signal provider's claimed return, drawdown or win rate may be from what their "
        "platform-executed trades show before verification fails, in basis points (500 = 5 percentage points).")
    copy_flag_drawdown_bp: int = Field(
        default=3000, ge=0,
        description="A provider whose largest drawdown exceeds this (basis points; 3000 = 30 %) is flagged as "
        "underperforming.")
    copy_flag_return_bp: int = Field(
        default=-2000,
        description="A provider whose total return is below this (basis points; -2000 = -20 %) is flagged as "
        "underperforming.")

    # --- demo trading accounts (alphabook.trading.accounts) --------------------------------
    demo_starting_cash_minor: int = Field(
        default=10_000_000, ge=1, le=10**15,
        description="Virtual cash a one-click demo account starts with, in minor units of demo_currency "
        "(10000000 is 100,000.00 USD).")
    demo_currency: str = Field(default="USD", min_length=3, max_length=3,
                               description="Currency of demo accounts' virtual cash (ISO 4217).")
    demo_days: int = Field(
        default=30, ge=1, le=365,
        description="Days a demo account trades; renewing it with an email gives as many again from that day.")
    demo_read_only_days: int = Field(
        default=30, ge=0, le=365,
        description="Days an expired demo stays readable (and renewable) before the cleanup job deletes it.")
    demo_cookie_secure: bool | None = Field(
        default=None,
        description="Send the demo account's cookie over HTTPS only. Unset: yes, unless the base URL is plain "
        "http on localhost, 127.0.0.1 or ::1 (a developer's machine, which has no HTTPS to send it over).")
    rate_limit_demo: str = Field(
        default="10/hour;50/day",
        description="Demo accounts one client address may open (';' separates several limits, all enforced).")

    # --- scheduled notebook runs (alphabook.scheduler) ----------------------------------
    scheduler_workers: int = Field(default=2, ge=1, le=64, description=(
        "Runs one scheduler process executes at once (embedded mode) or one Celery worker takes."))
    scheduler_runs_per_user: int = Field(default=2, ge=1, le=64, description=(
        "Runs of one person that may execute at the same time; the rest wait in the queue."))
    scheduler_lease_seconds: int = Field(default=60, ge=5, le=3600, description=(
        "How long a run's executor may go without renewing its lease before the run counts as crashed "
        "(it is then retried or failed); executors renew every few seconds."))
    scheduler_poll_seconds: float = Field(default=2.0, gt=0, le=60, description=(
        "How often the embedded scheduler looks for due jobs and queued runs."))
    scheduler_backend: Literal["embedded", "celery"] = Field(default="embedded", description=(
        "'embedded': the hub's scheduler service creates and executes runs itself. 'celery': Celery beat creates "
        "them and Celery workers ('alphabook scheduler worker', any number, on any machine sharing the database) "
        "execute them, with Redis as the broker."))
    celery_broker_url: str = Field(default="redis://127.0.0.1:6379/0", description=(
        "The Celery broker in distributed mode (Redis)."))
    celery_queue: str = Field(default="alphabook-runs", max_length=100, description=(
        "The Celery queue runs go through (several installations may share one Redis)."))
    smtp_host: str | None = Field(default=None, description=(
        "SMTP server for e-mail notifications (scheduled runs). Unset: e-mail notifications are not sent, and "
        "the run's log says so."))
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The SMTP server's port (587: submission).")
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str | None = Field(default=None, description="SMTP login; unset: send without logging in.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password (never shown).")
    smtp_from: str = Field(default="alphabook <noreply@localhost>", description="The From of notification e-mails.")
    scheduler_default_timeout_seconds: int = Field(default=3600, ge=10, le=7 * 86_400, description=(
        "A job's timeout when it does not set one; the kernel is killed when it is reached."))

    @field_validator("demo_currency")
    @classmethod
    def _known_demo_currency(cls, code: str) -> str:
        return normalize_currency(code)

    @property
    def demo_cookie_is_secure(self) -> bool:
        """Whether the demo cookie carries ``Secure``: the setting, or automatic (see its help)."""
        if self.demo_cookie_secure is not None:
            return self.demo_cookie_secure
        base = urlsplit(self.base_url)
        return not (base.scheme == "http" and base.hostname in {"localhost", "127.0.0.1", "::1"})

    # --- webhook order routing, the outbox dispatcher, secrets at rest (alphabook.trading) ----
    trading_fernet_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) that encrypt broker credentials and hook secrets at rest, comma-separated: the "
        "first encrypts, all decrypt (rotation: put the new key first, run 'alphabook trading rotate-key', then "
        "drop the old one). Empty: one is generated in <home>/secrets/trading_fernet_key.")
    trading_alert_window_seconds: int = Field(
        default=300, ge=5, le=86_400,
        description="How far an alert's timestamp may be from the server's clock, either way, before it is "
        "refused as stale (TradingView's body timestamp, or the webhook-timestamp header).")
    trading_secret_overlap_seconds: int = Field(
        default=86_400, ge=0, le=30 * 86_400,
        description="After a hook's secret is rotated, how long the previous one is still accepted (default: a day).")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies in front of the API; only from "
        "these is X-Forwarded-For believed when checking a hook's IP allow-list. Empty: trust no proxy.")
    trading_dispatcher_in_api: bool = Field(
        default=True,
        description="Run the order dispatcher as a thread inside each API process, so one command serves "
        "alerts and sends their orders; turn off when 'alphabook trading dispatch' runs on its own.")
    trading_dispatch_poll_seconds: float = Field(
        default=0.5, gt=0, le=60,
        description="How often an idle dispatcher looks for due orders (new orders in the same process wake it "
        "at once).")
    trading_dispatch_lease_seconds: float = Field(
        default=30, gt=0, le=3600,
        description="How long a dispatcher holds an order it claimed; after that, another dispatcher may take it "
        "over (after checking with the broker whether the order was already sent).")
    trading_dispatch_threads: int = Field(
        default=8, ge=1, le=64,
        description="Orders one dispatcher sends at the same time (to different orders; a venue's round trip is "
        "what they wait for). On SQLite, which has one writer, one at a time.")
    trading_dispatch_max_attempts: int = Field(
        default=8, ge=1, le=100,
        description="Sends of one order that fail temporarily before it is marked failed.")
    trading_dispatch_backoff_seconds: float = Field(
        default=1.0, gt=0, le=600,
        description="First retry delay after a temporary failure; it doubles each time (with jitter), up to "
        "trading_dispatch_backoff_max_seconds.")
    trading_dispatch_backoff_max_seconds: float = Field(
        default=300, gt=0, le=86_400, description="The longest delay between two sends of one order.")
    trading_custom_broker_endpoints: bool = Field(
        default=False,
        description="Let traders connecting a live account name the venue's endpoints themselves (ccxt 'urls' "
        "and 'config', Alpaca 'base_url', adapter 'retry'). Off, the server only ever calls the venues' own "
        "addresses; on, it calls whatever address a trader names (with their keys), so turn it on only where "
        "every trader is trusted (a self-hosted venue, tests).")
    trading_refresh_seconds: float = Field(
        default=5, gt=0, le=3600,
        description="How often a dispatcher asks brokers about working orders, to record their later fills.")

    # --- AI assistant (#11) -------------------------------------------------------------
    ai_managed_provider: Literal["none", "openai", "deepseek", "ollama", "anthropic", "gemini"] = Field(
        default="none", description=(
            "The platform's own LLM account, used (with metered credits) by people who configured no key of "
            "their own; 'none': such people get the built-in offline assistant."))
    ai_managed_api_key: SecretStr | None = Field(default=None, description=(
        "The platform's API key for ai_managed_provider (never shown; unused for ollama)."))
    ai_managed_base_url: str = Field(default="", description=(
        "Where ai_managed_provider is reached; empty: the provider's public address."))
    ai_managed_model: str = Field(default="", description="Model of ai_managed_provider; empty: its default.")
    ai_markup_bp: int = Field(default=3000, ge=0, le=100_000, description=(
        "What people pay on top of the provider's price for managed calls, in basis points (3000: cost + 30%)."))
    ai_model_prices: dict[str, list[int]] = Field(
        default={"gpt-4o-mini": [15, 60], "gpt-4o": [250, 1000], "deepseek-chat": [27, 110],
                 "claude-3-5-haiku": [80, 400], "claude-sonnet-4": [300, 1500], "gemini-2.0-flash": [10, 40],
                 "default": [300, 1500]},
        description=("Provider prices of managed calls in US cents per million [input, output] tokens, by model "
                     "name prefix (the longest prefix wins; 'default' for the rest)."))
    ai_requests_per_minute: int = Field(default=20, ge=1, le=10_000, description=(
        "Assistant calls one person may make per minute (all providers)."))
    ai_spend_per_day_minor: int = Field(default=500, ge=0, description=(
        "Managed-key credits one person may spend per UTC day, in US cents."))
    ai_retry_attempts: int = Field(default=3, ge=1, le=10, description=(
        "Tries per provider call when the provider is busy (5xx) or rate-limits (429, honouring Retry-After)."))
    ai_retry_max_wait_seconds: float = Field(default=30.0, ge=0, le=600, description=(
        "The longest wait between two tries; a longer Retry-After moves on to the next provider."))
    ai_request_timeout_seconds: float = Field(default=60.0, gt=0, le=600, description=(
        "How long one provider call may take."))
    ai_max_tokens: int = Field(default=2048, ge=16, le=65_536, description="Largest answer asked of a model.")
    ai_custom_endpoints: bool = Field(default=False, description=(
        "Whether people may give their AI providers an address of their own (their Ollama, a proxy); the API "
        "then calls whatever address a person names, so turn it on only where every person is trusted."))
    ai_market_data_dir: Path | None = Field(default=None, description=(
        "A folder of OHLCV files (e.g. binance_BTCUSDT_5m.csv.gz) the assistant backtests on; unset: the "
        "bundled offline samples."))
    ai_backtest_max_bars: int = Field(default=20_000, ge=100, le=2_000_000, description=(
        "The assistant backtests a generated strategy on at most this many of the latest bars."))

    # --- news, sentiment and market mood (#11) --------------------------------------------
    news_feeds: list[str] = Field(default=[], description=(
        "RSS/Atom feeds the sentiment refresh reads, as a JSON list of http(s) URLs, file:// URLs or paths; "
        "empty: the sample feed shipped with alphabook (invented headlines, works offline)."))
    news_fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=300, description=(
        "How long one feed may take to answer before the refresh gives up on it (the others still load)."))
    sentiment_symbols: dict[str, list[str]] = Field(default={
        "BTC": ["Bitcoin"], "ETH": ["Ethereum", "Ether"], "SOL": ["Solana"], "XRP": ["Ripple"],
        "AAPL": ["Apple"], "GOOG": ["Alphabet", "Google"], "MSFT": ["Microsoft"], "ORCL": ["Oracle"],
        "TSLA": ["Tesla"], "NVDA": ["Nvidia"]}, description=(
        "Symbols news is matched against, as JSON: ticker -> names (tickers match in capitals, names in any case)."))
    sentiment_headlines: int = Field(default=50, ge=1, le=1000, description=(
        "How many of a symbol's latest headlines its sentiment score averages."))
    sentiment_finbert_path: Path | None = Field(default=None, description=(
        "A local folder holding a saved FinBERT model (needs the optional 'transformers' and 'torch' packages); "
        "unset or unusable: headlines are scored with VADER. Never downloaded."))
    market_mood_symbol: str = Field(default="INDEX:BTC/USD", description=(
        "The market the Fear & Greed index reads (volatility, momentum, volume); its base asset's headlines "
        "give the sentiment component."))
    market_mood_timeframe: str = Field(default="1M", description=(
        "Bar size of market_mood_symbol's data (1M: the bundled monthly BTC/USD sample; 1d or finer for "
        "30-day windows in days)."))
    market_mood_data_dir: Path | None = Field(default=None, description=(
        "A folder of OHLCV CSV/Parquet files named like binance_BTCUSDT_5m.csv.gz to read market_mood_symbol "
        "from; unset: the bundled offline samples."))

    # --- notifications (#11) --------------------------------------------------------------
    notifications_in_api: bool = Field(default=True, description=(
        "Deliver notifications (e-mail, signed webhooks) from a thread inside each API process; it also sends "
        "what other processes recorded (the scheduler, 'alphabook payouts run'). Turn off only where no API runs."))
    notifications_poll_seconds: float = Field(default=2.0, gt=0, le=300, description=(
        "How often the delivery thread looks for notifications recorded by other processes (those of its own "
        "process are sent at once)."))
    notifications_max_attempts: int = Field(default=6, ge=1, le=50, description=(
        "Tries of one e-mail or webhook delivery before it is marked failed."))
    notifications_backoff_seconds: float = Field(default=30.0, gt=0, le=3600, description=(
        "Wait before the first retry of a failed delivery; it doubles with each try, up to an hour."))
    notifications_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description=(
        "How long a notification webhook (people's and scheduled jobs') may take to answer."))
    notifications_private_targets: bool | None = Field(default=None, description=(
        "Let notification webhooks (people's and scheduled jobs') reach private, loopback and link-local "
        "addresses. Off, such addresses are refused, so nobody can make the server call its own network. Unset: "
        "allowed only when this installation is itself served on loopback (a developer's machine, whose only "
        "users can reach those addresses anyway)."))

    # --- sign-in extras (#11) -------------------------------------------------------------
    magic_link_minutes: int = Field(default=15, ge=1, le=24 * 60, description=(
        "How long an e-mailed sign-in link works; each link works once. Links are offered on the login page "
        "only when an SMTP server is configured (ALPHABOOK_SMTP_HOST)."))
    magic_links_per_hour: int = Field(default=5, ge=1, le=100, description=(
        "Sign-in links one account may be sent per hour; further requests are answered as usual but send nothing."))
    two_factor_issuer: str = Field(default="alphabook", min_length=1, max_length=64, description=(
        "The name authenticator apps show beside a person's two-factor codes."))

    # --- executor service (#10) -----------------------------------------------------------
    sandbox_url: str | None = Field(default=None, description=(
        "The sandbox executor service (`alphabook sandbox serve`) that runs creators' indicators, e.g. "
        "http://sandbox:8040. Unset: each process (API, workers) runs its own in-process bubblewrap pool."))
    sandbox_service_token: SecretStr | None = Field(default=None, description=(
        "The shared secret between the sandbox executor service and its callers (a Bearer token). Required "
        "when the service listens on anything but loopback."))
    sandbox_service_host: str = Field(default="127.0.0.1", description=(
        "Where `alphabook sandbox serve` listens (0.0.0.0 in a container)."))
    sandbox_service_port: int = Field(default=8040, ge=1, le=65535, description=(
        "The port of `alphabook sandbox serve`."))
    sandbox_remote_concurrency: int = Field(default=16, ge=1, le=1024, description=(
        "Calls one process keeps in flight to the sandbox service at once; more wait in that process."))

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        import ipaddress

        for part in filter(None, (item.strip() for item in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as error:
                raise ValueError(f"trusted_proxies: {part!r} is not an IP address or network") from error
        return value

    # --- derived locations -------------------------------------------------------------
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'alphabook.db'}"

    @property
    def hub_dir(self) -> Path:
        return self.home / "hub"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_store(self) -> Path:
        """Executed run notebooks, as ``<owner>/<job>/<run>-<attempt>.ipynb`` (the keys an object store would use)."""
        return self.home / "runs"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.hub_ip}:{self.hub_port}").rstrip("/")

    def ensure_home(self) -> None:
        """Create the home folders; secrets are kept private to the owner."""
        for folder in (self.home, self.hub_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.chmod(0o700)

    def secret(self, name: str, nbytes: int = 32) -> str:
        """Return the named secret, generating it on first use (file mode 0600)."""
        self.ensure_home()
        path = self.secrets_dir / name
        if not path.exists():
            # Written whole under a private name, then linked into place: a process starting at the same
            # moment either sees no file or the complete one, and exactly one value wins.
            draft = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(nbytes))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return path.read_text().strip()

    def described(self) -> list[tuple[str, str, str]]:
        """(environment name, effective value with secrets masked, help) for every setting."""
        rows = []
        for name, field in type(self).model_fields.items():
            value: Any = getattr(self, name)
            if isinstance(value, SecretStr):
                shown = "********"
            elif value is None or value == "":
                shown = "(unset)"
            else:
                shown = str(value)
            if name == "database_url":
                try:
                    url = make_url(self.effective_database_url).render_as_string(hide_password=True)
                except ArgumentError:
                    url = "(not a valid SQLAlchemy URL)"
                shown = url if value else f"(unset) -> {url}"
            rows.append((f"ALPHABOOK_{name.upper()}", shown, field.description or ""))
        return rows


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own ``Settings`` instead of patching this."""
    return Settings()
