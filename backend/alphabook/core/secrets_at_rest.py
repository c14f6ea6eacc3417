"""Secrets at rest (broker credentials, hook secrets, people's AI provider keys, TOTP seeds), encrypted with the
installation's Fernet key(s).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) both encrypts and authenticates, so a ciphertext
edited in the database fails to decrypt instead of yielding a different key. The keys come from the setting
``trading_fernet_key`` (named after its first user; it protects every secret at rest): a comma-separated list
whose first key encrypts and all of which decrypt (:class:`~cryptography.fernet.MultiFernet`), which is how keys
are rotated without downtime: put a new key first, run ``alphabook trading rotate-key``, then drop the old key.
With the setting empty, zero configuration still works: a key is derived from a secret generated once in
``<home>/secrets`` (and that key keeps decrypting after an explicit key is configured, so switching loses nothing).
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import MetaData, and_, select
from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.config import Settings
from alphabook.core.errors import ConfigurationError

__all__ = ["ENCRYPTED", "CredentialCipher", "cipher_for", "reencrypt_all"]

#: The ``info`` of every column that holds a Fernet token: ``mapped_column(Text, info=ENCRYPTED)``. Key rotation
#: finds the columns by it, so a new kind of secret is rotated with the others without anyone remembering to.
ENCRYPTED: dict[str, Any] = {"encrypted": True}

GENERATED_SECRET = "trading_fernet_key"  # noqa: S105 (the name of the file, not a secret)


class CredentialCipher:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigurationError("No Fernet key to encrypt secrets at rest with.")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as error:
            raise ConfigurationError(
                "A stored secret cannot be decrypted with any configured key: a key that encrypted it "
                "was removed from ALPHABOOK_TRADING_FERNET_KEY too early, or the value was altered. Put the old "
                "key back (after the new one) and run 'alphabook trading rotate-key'.") from error

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext, encrypted again with the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken as error:
            raise ConfigurationError("A stored secret cannot be decrypted with any configured key; "
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


def reencrypt_all(session: Session, cipher: CredentialCipher, metadata: MetaData) -> int:
    """Encrypt every value of every ``ENCRYPTED`` column of ``metadata`` again with the first key.

    Returns how many values were rotated; audited (the count, never a value). A value no configured key
    decrypts stops the rotation with ConfigurationError before anything is written.
    """
    count = 0
    for table in metadata.sorted_tables:
        columns = [column for column in table.columns if column.info.get("encrypted")]
        if not columns:
            continue
        keys = list(table.primary_key.columns)
        for row in session.execute(select(*keys, *columns).order_by(*keys)).mappings():
            rotated = {column.name: cipher.rotate(row[column]) for column in columns if row[column] is not None}
            if rotated:
                session.execute(table.update().where(and_(*(key == row[key] for key in keys))).values(rotated))
                count += len(rotated)
    audit.record(session, actor="cli", action="secrets.keys_rotated", subject="secrets", values=count)
    return count
