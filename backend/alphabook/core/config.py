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

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

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
