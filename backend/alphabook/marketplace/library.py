"""The official indicator library (#3) as free, approved, ``open`` listings, seeded idempotently.

Each indicator becomes a listing owned by the ``alphabook`` account whose single version is a two-line
creator-style module calling :func:`alphabook.research.indicators.compute`, with the indicator's own
parameter specs as its schema. The versions pass the same automated checks as anyone's, except that the
test run uses the trusted in-process executor (this is the platform's own code): seeding all of them takes
seconds instead of a sandbox round trip each. Volume profiles (not aligned to the bars) are left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.accounts import service as accounts
from alphabook.accounts.models import Role, User
from alphabook.core.clock import utcnow
from alphabook.core.money import Money
from alphabook.marketplace import listings
from alphabook.marketplace.models import Listing, ListingStatus, VersionStatus
from alphabook.research.indicators.spec import IndicatorSpec, Param

__all__ = ["OFFICIAL_ACCOUNT", "SeedResult", "indicator_source", "seed_library"]

log = logging.getLogger(__name__)
OFFICIAL_ACCOUNT = "alphabook"


@dataclass(frozen=True, slots=True)
class SeedResult:
    created: int
    existing: int
    skipped: list[str]


def indicator_source(spec: IndicatorSpec) -> str:
    signature = "".join(f", {param.name}={param.default!r}" for param in spec.params)
    arguments = "".join(f", {param.name}={param.name}" for param in spec.params)
    return (f'"""{spec.title} ({spec.category}), from alphabook\'s official library."""\n\n'
            "from alphabook.research.indicators import compute\n\n\n"
            f"def indicator(df{signature}):\n"
            f"    return compute({spec.name!r}, df{arguments})\n")


def _schema(param: Param) -> dict[str, object]:
    entry: dict[str, object] = {"name": param.name, "type": param.kind, "default": param.default,
                                "description": param.help[:300]}
    if param.kind == "choice":
        entry["choices"] = list(param.choices)
    else:
        entry.update(minimum=param.minimum, maximum=param.maximum)
    return entry


def _official_account(session: Session) -> User:
    user = accounts.ensure_user(session, OFFICIAL_ACCOUNT)
    if Role.CREATOR.value not in user.roles:
        user.roles = [*user.roles, Role.CREATOR.value]
    return user


def seed_library(session: Session, *, currency: str = "USD", limit: int | None = None) -> SeedResult:
    """Create the listings that do not exist yet; running it again changes nothing."""
    from alphabook.research.indicators.registry import list_indicators
    from alphabook.sandbox.inprocess import InProcessExecutor

    owner = _official_account(session)
    existing = set(session.scalars(select(Listing.slug).where(Listing.creator_id == owner.id)))
    trusted = InProcessExecutor(trusted=True)
    created, skipped = 0, []
    specs = [spec for spec in list_indicators() if spec.kind == "series"][:limit]
    for spec in specs:
        slug = f"{OFFICIAL_ACCOUNT}/{spec.name.replace('_', '-')}"
        if slug in existing:
            continue
        listing = listings.create_listing(
            session, owner, name=spec.name, kind="indicator", title=spec.title,
            description=_description(spec), category=spec.category,
            tags=[spec.category, spec.engine.replace("_", "-"), *spec.outputs][:8], price=Money.zero(currency),
            licence="open", official=True)
        version = listings.add_version(session, owner, listing, version="1.0.0", code=indicator_source(spec),
                                       parameter_schema=[_schema(param) for param in spec.params],
                                       changelog="First release.", executor=trusted)
        if version.status == VersionStatus.FAILED:
            skipped.append(spec.name)
            log.warning("official indicator %s failed its checks: %s", spec.name, version.report)
            session.delete(listing)
            session.flush()
            continue
        version.status, version.active = VersionStatus.APPROVED, True
        listing.status, listing.updated_at = ListingStatus.APPROVED, utcnow()
        created += 1
    session.flush()
    return SeedResult(created=created, existing=len(existing), skipped=skipped)


def _description(spec: IndicatorSpec) -> str:
    lines = [f"**{spec.title}** from the {spec.engine.replace('_', '-')} engine (`{spec.function}`).", "",
             f"Outputs: {', '.join(f'`{name}`' for name in spec.outputs)}.",
             f"Parameters: {spec.describe_params()}."]
    if spec.definition:
        lines += ["", spec.definition]
    return "\n".join(lines)
