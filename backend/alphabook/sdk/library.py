"""``ab.library``: find listings on the marketplace and list what you own, as DataFrames a notebook shows well."""

from __future__ import annotations

from typing import Any

import pandas as pd

from alphabook.sdk.client import current

__all__ = ["mine", "search"]

COLUMNS = ["slug", "title", "kind", "category", "price", "licence", "rating", "ratings", "installs", "creator"]


def _frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"slug": item["slug"], "title": item["title"], "kind": item["kind"], "category": item["category"],
             "price": "free" if item["free"] else item["price"]["display"], "licence": item["licence"],
             "rating": round(item["rating_avg"], 2), "ratings": item["rating_count"], "installs": item["installs"],
             "creator": item["creator"]} for item in items]
    return pd.DataFrame(rows, columns=COLUMNS)


def search(text: str = "", *, kind: str | None = None, category: str | None = None, free: bool | None = None,
           creator: str | None = None, min_rating: float | None = None, sort: str = "relevance",
           limit: int = 20) -> pd.DataFrame:
    """Approved listings matching ``text`` (title, description, tags) and the filters, best first."""
    page = current().get("/listings", q=text, kind=kind, category=category, free=free, creator=creator,
                         min_rating=min_rating, sort=sort, limit=limit)
    return _frame(page["items"])


def mine() -> pd.DataFrame:
    """What you bought or installed; ``ab.use(slug)`` runs any of them."""
    return _frame(current().get("/library"))
