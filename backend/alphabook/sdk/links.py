"""Where a person looks at things in a browser: the dashboards' pages, under the hub's public address."""

from __future__ import annotations

import os
from urllib.parse import quote

__all__ = ["listing_page"]


def listing_page(slug: str) -> str | None:
    """The listing's marketplace page, when the public address is known (the spawner sets it)."""
    public = os.environ.get("ALPHABOOK_PUBLIC_URL", "").rstrip("/")
    return f"{public}/services/dashboards/listing?slug={quote(slug, safe='/')}" if public else None
