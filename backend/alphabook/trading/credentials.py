"""Broker credentials and hook secrets, stored encrypted (:mod:`alphabook.core.secrets_at_rest` holds the Fernet
keys and their rotation, ``alphabook trading rotate-key``).

Plaintext never leaves the services that need it (the broker registry, hook authentication): no API shape has
a field for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.errors import InvalidInput
from alphabook.core.secrets_at_rest import CredentialCipher, cipher_for
from alphabook.trading.models import BrokerCredential, TradingAccount

__all__ = ["BrokerSecrets", "CredentialCipher", "cipher_for", "load_credentials", "store_credentials"]


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


def _hint(api_key: str) -> str:
    """Enough of a key for its owner to recognise it, too little to use it."""
    return f"…{api_key[-4:]}" if len(api_key) > 8 else "…"
