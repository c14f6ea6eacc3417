"""Secrets at rest: broker credentials and hook secrets, encrypted with the installation's Fernet key(s).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) both encrypts and authenticates, so a ciphertext
edited in the database fails to decrypt instead of yielding a different key. The keys come from the setting
``trading_fernet_key``: a comma-separated list whose first key encrypts and all of which decrypt
(:class:`~cryptography.fernet.MultiFernet`), which is how keys are rotated without downtime: put a new key first,
run ``alphabook trading rotate-key`` (:func:`reencrypt_all`), then drop the old key. With the setting empty, zero
configuration still works: a key is derived from a secret generated once in ``<home>/secrets`` (and that key
keeps decrypting after an explicit key is configured, so switching loses nothing).

Plaintext never leaves the services that need it (the broker registry, hook authentication): no API shape has
a field for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import ConfigurationError, InvalidInput
from alphabook.trading.models import BrokerCredential, Hook, TradingAccount

__all__ = ["BrokerSecrets", "CredentialCipher", "cipher_for", "load_credentials", "reencrypt_all",
           "store_credentials"]

GENERATED_SECRET = "trading_fernet_key"  # noqa: S105 (the name of the file, not a secret)


class CredentialCipher:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigurationError("No Fernet key to encrypt trading secrets with.")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as error:
            raise ConfigurationError(
                "A stored trading secret cannot be decrypted with any configured key: a key that encrypted it "
                "was removed from ALPHABOOK_TRADING_FERNET_KEY too early, or the value was altered. Put the old "
                "key back (after the new one) and run 'alphabook trading rotate-key'.") from error

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext, encrypted again with the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken as error:
            raise ConfigurationError("A stored trading secret cannot be decrypted with any configured key; "
                                     "nothing was re-encrypted.") from error


def cipher_for(settings: Settings) -> CredentialCipher:
    """The installation's cipher, built once per key configuration (it is asked for on every alert)."""
    configured = settings.trading_fernet_key.get_secret_value() if settings.trading_fernet_key else ""
    cache_key = (configured, str(settings.secrets_dir))
    cipher = _ciphers.get(cache_key)
    if cipher is None:
        keys = _configured_keys(configured)
        if not keys or (settings.secrets_dir / GENERATED_SECRET).exists():
            keys.append(_derived_key(settings))  # the zero-configuration key, or the one used before a key was set
        cipher = _ciphers[cache_key] = CredentialCipher(keys)
    return cipher


_ciphers: dict[tuple[str, str], CredentialCipher] = {}


def _configured_keys(configured: str) -> list[bytes]:
    keys: list[bytes] = []
    for number, part in enumerate(filter(None, (item.strip() for item in configured.split(","))), start=1):
        try:
            Fernet(part.encode("ascii"))
        except (ValueError, UnicodeError) as error:
            raise ConfigurationError(
                f"Key {number} in ALPHABOOK_TRADING_FERNET_KEY is not a Fernet key (32 url-safe base64-encoded "
                "bytes); make one with 'alphabook trading new-key'.") from error
        keys.append(part.encode("ascii"))
    return keys


def _derived_key(settings: Settings) -> bytes:
    """A Fernet key derived (HKDF-SHA256) from the generated secret, created on first use."""
    secret = settings.secret(GENERATED_SECRET)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"alphabook trading secrets at rest").derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


@dataclass(frozen=True, slots=True)
class BrokerSecrets:
    """What a broker adapter needs to log in, plus its non-secret options (kept encrypted all the same)."""

    api_key: str
    secret: str
    password: str | None = None  # some venues' API passphrase
    options: Mapping[str, Any] | None = None  # adapter options, e.g. ccxt "urls", "quote_currency", "market_type"


def store_credentials(session: Session, cipher: CredentialCipher, account: TradingAccount, *, venue: str,
                      sandbox: bool, secrets: BrokerSecrets, actor: str) -> BrokerCredential:
    """Save (or replace) ``account``'s broker keys, encrypted; audited without the keys themselves."""
    if not secrets.api_key or not secrets.secret:
        raise InvalidInput("Both the API key and its secret are needed to connect a broker account.")
    payload = json.dumps({"api_key": secrets.api_key, "secret": secrets.secret, "password": secrets.password,
                          "options": dict(secrets.options or {})})
    credential = session.get(BrokerCredential, account.id)
    now = utcnow()
    if credential is None:
        credential = BrokerCredential(account_id=account.id, venue=venue, sandbox=sandbox,
                                      ciphertext=cipher.encrypt(payload), created_at=now, rotated_at=None)
        session.add(credential)
    else:
        credential.venue, credential.sandbox = venue, sandbox
        credential.ciphertext, credential.rotated_at = cipher.encrypt(payload), now
    audit.record(session, actor=actor, action="trading.credentials_stored", subject=f"trading_account:{account.id}",
                 venue=venue, sandbox=sandbox, api_key_hint=_hint(secrets.api_key))
    return credential


def load_credentials(cipher: CredentialCipher, credential: BrokerCredential) -> BrokerSecrets:
    data = json.loads(cipher.decrypt(credential.ciphertext))
    return BrokerSecrets(api_key=data["api_key"], secret=data["secret"], password=data.get("password"),
                         options=data.get("options") or {})


def reencrypt_all(session: Session, cipher: CredentialCipher) -> int:
    """Encrypt every stored credential and hook secret again with the first key; returns how many values."""
    count = 0
    for credential in session.scalars(select(BrokerCredential).order_by(BrokerCredential.account_id)):
        credential.ciphertext = cipher.rotate(credential.ciphertext)
        count += 1
    for hook in session.scalars(select(Hook).order_by(Hook.id)):
        hook.secret_ciphertext = cipher.rotate(hook.secret_ciphertext)
        count += 1
        if hook.previous_secret_ciphertext is not None:
            hook.previous_secret_ciphertext = cipher.rotate(hook.previous_secret_ciphertext)
            count += 1
    audit.record(session, actor="cli", action="trading.keys_rotated", subject="trading", values=count)
    return count


def _hint(api_key: str) -> str:
    """Enough of a key for its owner to recognise it, too little to use it."""
    return f"…{api_key[-4:]}" if len(api_key) > 8 else "…"
