"""``ab.use("creator/name")``: a listing you own as a function ``f(df, **params)``, wherever its code may run.

``open`` listings hand their source to their owners: it is downloaded once and runs in this kernel through
the sandbox's language layer (:mod:`alphabook.sandbox.execution`, RestrictedPython: the same validation and
output contract as the server's sandbox), inside the kernel's own bubblewrap jail. ``protected`` code never
leaves the server: the call sends the bars to ``/api/listings/{slug}/run`` and gets only the output back.
Either way parameters are checked against the version's schema first and the result is a DataFrame indexed
like ``df``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alphabook.core.errors import Forbidden, InvalidInput
from alphabook.marketplace.params import resolve
from alphabook.sdk.client import Client, current
from alphabook.sdk.links import listing_page

__all__ = ["UsedListing", "buy", "use"]


@dataclass
class UsedListing:
    """A callable listing: ``f(df, length=20)``; ``f.parameters`` lists what it takes."""

    slug: str
    title: str
    version: str
    licence: str
    parameters: list[dict[str, Any]]
    client: Client = field(repr=False)
    source: str | None = field(default=None, repr=False)

    @property
    def runs(self) -> str:
        return "here, in your kernel" if self.source is not None else "in alphabook's sandbox"

    def __call__(self, df: pd.DataFrame, **params: Any) -> pd.DataFrame:
        from alphabook.research.data.frame import to_ohlcv

        bars = to_ohlcv(df)
        resolved = resolve(self.parameters, params)
        return self._local(bars, resolved) if self.source is not None else self._remote(bars, resolved)

    def _local(self, bars: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        from alphabook.sandbox import execution
        from alphabook.sandbox.limits import DEFAULT_LIMITS

        assert self.source is not None
        return execution.execute(execution.validate(self.source), bars, params, DEFAULT_LIMITS.max_output_bytes)

    def _remote(self, bars: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
        columns: dict[str, list[Any]] = {"ts_ms": [int(stamp.value // 1_000_000) for stamp in bars.index]}
        columns |= {name: bars[name].tolist() for name in ("open", "high", "low", "close", "volume")}
        answer = self.client.post(f"/listings/{self.slug}/run",
                                  {"bars": columns, "params": params, "version": self.version})
        index = pd.DatetimeIndex(pd.to_datetime(answer["time"], utc=True), name=bars.index.name)
        return pd.DataFrame(answer["outputs"], index=index, dtype=float).reindex(bars.index)

    def __repr__(self) -> str:
        described = ", ".join(_describe(spec) for spec in self.parameters) or "no parameters"
        return f"<{self.slug} {self.version} ({self.licence}; runs {self.runs}): f(df, {described})>"


def _describe(spec: dict[str, Any]) -> str:
    bounds = ""
    if spec.get("choices") and spec["type"] == "choice":
        bounds = " of " + "/".join(spec["choices"])
    elif spec.get("minimum") is not None or spec.get("maximum") is not None:
        low, high = (f"{spec[key]:g}" if spec.get(key) is not None else "" for key in ("minimum", "maximum"))
        bounds = f" in {low}..{high}"
    return f"{spec['name']}={spec['default']!r}{bounds}"


def use(slug: str, version: str | None = None) -> UsedListing:
    """The listing ``slug`` ("creator/name") as ``f(df, **params)``; ``version`` pins another version you may run."""
    client = current()
    creator, _, name = slug.strip().partition("/")
    if not creator or not name or "/" in name:
        raise InvalidInput(f"{slug!r} is not a listing: write it as 'creator/name', e.g. ab.use('alice/rsi-signal').")
    detail = client.get(f"/listings/{creator}/{name}")
    if detail["kind"] == "notebook":
        raise InvalidInput(f"{slug} is a notebook, not a function: open it from the marketplace page instead.")
    chosen = version or detail.get("your_version")
    if chosen is None:
        where = listing_page(detail["slug"])
        how = "install it with ab.buy(...)" if detail["free"] else f"buy it ({detail['price']['display']})"
        raise Forbidden(f"You do not own {detail['slug']} yet: {how}"
                        + (f" on {where}" if where else "") + f", e.g. ab.buy('{detail['slug']}').")
    known = {each["version"]: each for each in detail["versions"]}
    if chosen not in known:
        raise InvalidInput(f"{detail['slug']} has no version {chosen} you can run; its versions: "
                           f"{', '.join(known) or 'none yet'}.")
    schema = known[chosen]["parameter_schema"]
    source = None
    if detail["licence"] == "open":
        source = client.get(f"/listings/{creator}/{name}/source", version=chosen)
    return UsedListing(slug=detail["slug"], title=detail["title"], version=chosen, licence=detail["licence"],
                       parameters=list(schema), client=client, source=source)


def buy(slug: str) -> dict[str, Any]:
    """Install a free listing, or start buying a paid one: open the returned ``checkout_url`` to pay."""
    client = current()
    detail = client.get(f"/listings/{slug}")
    if detail["free"]:
        return dict(client.post(f"/listings/{slug}/install"))
    purchase = dict(client.post(f"/listings/{slug}/purchase"))
    if purchase.get("checkout_url"):
        _show_link(purchase["checkout_url"], f"Pay {purchase['amount']['display']} for {slug}")
    return purchase


def _show_link(url: str, text: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:  # outside IPython the returned URL is all there is
        return
    from html import escape

    display(HTML(f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(text)}</a>'))
