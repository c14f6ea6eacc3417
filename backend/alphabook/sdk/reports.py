"""What publishing and validating answer: the sandbox's steps, readable as text and as a table in a notebook."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from html import escape
from typing import Any

__all__ = ["PublishReport"]


@dataclass
class PublishReport:
    """The validation report, and what became of the listing (nothing, when a check failed)."""

    message: str
    report: dict[str, Any]
    published: bool = False
    slug: str | None = None
    version: str | None = None
    created: bool = False
    submitted: bool = False
    status: str | None = None
    listing_url: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.report.get("ok"))

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.report.get("steps", []))

    @property
    def problems(self) -> list[str]:
        return [f"{step['name']}: {step['detail']}" for step in self.steps if not step["ok"]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [self.message]
        for step in self.steps:
            mark = "✓" if step["ok"] else "✗"
            lines.append(f"  {mark} {step['name']} ({step.get('seconds', 0):.2f} s)"
                         + (f": {step['detail']}" if step["detail"] else ""))
        backtest = self.report.get("backtest")
        if backtest:
            lines.append("  backtest: " + ", ".join(f"{key} {value}" for key, value in backtest.items()
                                                     if not isinstance(value, dict | list)))
        if self.listing_url:
            lines.append(f"  {self.listing_url}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='color:{'#1a7f37' if step['ok'] else '#cf222e'}'>{'✓' if step['ok'] else '✗'}</td>"
            f"<td>{escape(step['name'])}</td><td>{step.get('seconds', 0):.2f} s</td>"
            f"<td style='white-space:pre-wrap;text-align:left'>{escape(step['detail'])}</td></tr>"
            for step in self.steps)
        link = (f"<p><a href='{escape(self.listing_url)}' target='_blank' rel='noopener'>Open the listing page</a></p>"
                if self.listing_url else "")
        return (f"<div class='ab-report'><p><b>{escape(self.message)}</b></p><table><thead><tr><th></th><th>step</th>"
                f"<th>time</th><th style='text-align:left'>detail</th></tr></thead><tbody>{rows}</tbody></table>"
                f"{link}</div>")
