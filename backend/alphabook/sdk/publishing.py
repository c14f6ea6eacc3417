"""``ab.publish``: validate a package in the sandbox, then create or update the listing, add a version, submit.

Validation runs first and saves nothing (``POST /api/listings/validate``), so a broken indicator costs the
creator no version number; only a package whose checks pass becomes a draft and a version (where the API
runs the same checks again and keeps their report). The JupyterLab extension's Publish button and the
``%ab_publish`` magic come through here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from alphabook.core.errors import InvalidInput, NotFound
from alphabook.core.money import Money
from alphabook.sdk import packaging
from alphabook.sdk.client import Client, current
from alphabook.sdk.links import listing_page
from alphabook.sdk.reports import PublishReport

__all__ = ["Listing", "next_version", "publish", "publish_package", "validate_package"]


@dataclass(frozen=True)
class Listing:
    """What the creator decides about the listing; ``None`` keeps the listing's current value (or a default)."""

    name: str | None = None
    title: str | None = None
    description: str | None = None
    category: str | None = None
    tags: Sequence[str] | None = None
    price: Money | None = None
    licence: str | None = None


def validate_package(client: Client, package: packaging.Package) -> dict[str, Any]:
    """The sandbox's report on the package, its line numbers pointing into the notebook or function."""
    steps: list[dict[str, Any]] = [{"name": "packaging", "ok": False, "detail": problem, "seconds": 0.0}
                                   for problem in package.problems]
    if not package.code.strip():
        return {"ok": False, "steps": steps}
    report = dict(client.post("/listings/validate", {"kind": package.kind, "code": package.code,
                                                     "parameter_schema": package.parameter_schema}))
    report["steps"] = steps + [{**step, "detail": packaging.locate(step["detail"], package)}
                               for step in report["steps"]]
    report["ok"] = bool(report["ok"]) and not steps
    return report


def next_version(versions: Sequence[str]) -> str:
    """The next patch after the newest version, or 1.0.0 for the first."""
    from alphabook.marketplace.text import parse_version

    if not versions:
        return "1.0.0"
    major, minor, patch = max(parse_version(each) for each in versions)
    return f"{major}.{minor}.{patch + 1}"


def find_listing(client: Client, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.get(f"/listings/{client.username}/{name}")
        return found
    except NotFound:
        return None


def publish_package(client: Client, package: packaging.Package, listing: Listing, *, version: str | None = None,
                    changelog: str = "", submit: bool = False) -> PublishReport:
    report = validate_package(client, package)
    if not report["ok"]:
        return PublishReport(message="Not published: fix what the report lists, then publish again.", report=report)
    name = packaging.listing_name(listing.name or package.name)
    existing = find_listing(client, name)
    created = existing is None
    if existing is None:
        price = listing.price or Money.zero("USD")
        existing = client.post("/listings", {
            "name": name, "kind": package.kind, "title": listing.title or package.title,
            "description": listing.description if listing.description is not None else package.description,
            "category": listing.category or "other", "tags": list(listing.tags or []),
            "price": {"amount_minor": price.amount_minor, "currency": price.currency},
            "licence": listing.licence or "protected"})
    else:
        changes = _changes(listing)
        if changes:
            existing = client.request("PATCH", f"/listings/{existing['slug']}", json=changes)
    slug = existing["slug"]
    chosen = version or next_version([each["version"] for each in existing["versions"]])
    added = client.post(f"/listings/{slug}/versions", {
        "version": chosen, "code": package.code, "parameter_schema": package.parameter_schema,
        "changelog": changelog})
    report = {**added["report"], "steps": [{**step, "detail": packaging.locate(step["detail"], package)}
                                           for step in added["report"]["steps"]]}
    status = existing["status"]
    if added["status"] == "failed":
        return PublishReport(message=f"{slug} {chosen} was saved but failed its checks; fix them and publish again.",
                             report=report, slug=slug, version=chosen, created=created, status=status,
                             listing_url=listing_page(slug))
    if submit:
        client.post(f"/listings/{slug}/submit")
        status = client.get(f"/listings/{slug}")["status"]
    what = "created" if created else "updated"
    then = "and submitted for review" if submit else "as a draft: submit it for review when ready"
    return PublishReport(message=f"{slug} {chosen} {what} {then}.", report=report, published=True, slug=slug,
                         version=chosen, created=created, submitted=submit, status=status,
                         listing_url=listing_page(slug))


def _changes(listing: Listing) -> dict[str, Any]:
    changes: dict[str, Any] = {key: value for key, value in (
        ("title", listing.title), ("description", listing.description), ("category", listing.category),
        ("licence", listing.licence)) if value is not None}
    if listing.tags is not None:
        changes["tags"] = list(listing.tags)
    if listing.price is not None:
        changes["price"] = {"amount_minor": listing.price.amount_minor, "currency": listing.price.currency}
    return changes


def as_money(price: str | Decimal | int | Money | None, currency: str = "USD") -> Money | None:
    """A price in currency units ("9.99", Decimal, whole ints) as Money; floats are refused (they are inexact)."""
    if price is None or isinstance(price, Money):
        return price
    if isinstance(price, float):
        raise InvalidInput(f"Give the price as a string or Decimal, e.g. '{price}', not a float (floats are inexact).")
    return Money.of(price, currency)


def publish(what: str | Path | Callable[..., Any], *, name: str | None = None, title: str | None = None,
            description: str | None = None, kind: str | None = None, category: str | None = None,
            tags: Sequence[str] | None = None, price: str | Decimal | int | Money | None = None,
            currency: str = "USD", licence: str | None = None, version: str | None = None, changelog: str = "",
            submit: bool = False) -> PublishReport:
    """Publish a notebook (its cell tagged ``indicator``) or a function as a listing; returns the report.

    ``ab.publish("rsi.ipynb", price="9.99", submit=True)``; ``ab.publish(my_indicator, category="momentum")``.
    Nothing is saved unless the sandbox's checks pass; a new version follows the newest (1.0.0, 1.0.1, …).
    """
    package = package_of(what, kind=kind)
    return publish_package(current(), package, Listing(
        name=name, title=title, description=description, category=category, tags=tags,
        price=as_money(price, currency), licence=licence), version=version, changelog=changelog, submit=submit)


def package_of(what: str | Path | Callable[..., Any], *, kind: str | None = None) -> packaging.Package:
    if callable(what):
        package = packaging.from_function(what, kind=kind or "indicator")
    else:
        path = Path(what).expanduser()
        if path.suffix != ".ipynb":
            raise InvalidInput(f"{path} is not a notebook (.ipynb); publish a notebook or a function.")
        if not path.is_file():
            raise InvalidInput(f"There is no notebook at {path.resolve()}.")
        import json

        package = packaging.from_notebook(json.loads(path.read_text(encoding="utf-8")), str(path))
    return replace(package, kind=kind) if kind else package
