"""What the Creator and Admin pages both show: a version's automated checks, its code with line numbers, plain
tables of rows, and the style of a card. The creator reads the checks to fix their code; the moderator reads the
same report (and the code) before deciding, so both see it drawn the same way.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import panel as pn

from alphabook.core.clock import as_utc
from alphabook.marketplace.models import ListingVersion

REPORT_CSS = """
.ab-checks { margin: 4px 0; }
.ab-checks li.ok::marker { content: "✓ "; color: #1a7f37; }
.ab-checks li.failed::marker { content: "✗ "; color: #cf222e; }
.ab-checks pre, .ab-code pre { white-space: pre-wrap; margin: 2px 0; background: #f6f8fa; padding: 4px 6px; }
.ab-code pre { max-height: 320px; overflow: auto; }
"""
TABLE_CSS = "table.panel-df th, table.panel-df td { text-align: left; vertical-align: top; }"
CARD_CSS = ":host { border: 1px solid #d0d7de; border-radius: 8px; padding: 6px 10px; background: white; }"


def when(moment: datetime | None) -> str:
    """A stored time as people read it here: UTC, to the minute."""
    return "" if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def checks(version: ListingVersion) -> pn.pane.HTML:
    """The version's automated checks, each passed or failed with its finding (``line N: …`` for code problems)."""
    steps: Sequence[Mapping[str, Any]] = version.report.get("steps", [])
    verdict = "All checks passed" if version.report.get("ok") else "Some checks failed"
    items = "".join(
        f'<li class="{"ok" if step["ok"] else "failed"}"><b>{html.escape(step["name"])}</b>'
        f' {"passed" if step["ok"] else "failed"} ({step.get("seconds", 0)} s)'
        + (f'<pre>{html.escape(str(step["detail"]))}</pre>' if step.get("detail") else "") + "</li>"
        for step in steps)
    backtest = version.report.get("backtest", {}).get("deflated_sharpe")
    verdict_line = (f"<br>Backtest: deflated Sharpe verdict <i>{html.escape(str(backtest.get('verdict')))}</i>"
                    if backtest else "")
    return pn.pane.HTML(f'<div class="ab-checks"><b>Version {html.escape(version.version)}: {verdict}</b>'
                        f"<ul>{items}</ul>{verdict_line}</div>", sizing_mode="stretch_width",
                        stylesheets=[REPORT_CSS])


def code(version: ListingVersion) -> pn.pane.HTML:
    """The version's code with line numbers (the checks name lines), folded until opened."""
    numbered = "\n".join(f"{number:>4}  {line}" for number, line in enumerate(version.code.splitlines(), 1))
    return pn.pane.HTML(f'<details class="ab-code"><summary>Code of {html.escape(version.version)}</summary>'
                        f"<pre>{html.escape(numbered)}</pre></details>", sizing_mode="stretch_width",
                        stylesheets=[REPORT_CSS])


def table(rows: Sequence[Mapping[str, object]]) -> pn.pane.DataFrame:
    """Rows (one mapping each, same keys) as a plain table; the caller shows an empty state instead of none."""
    return pn.pane.DataFrame(pd.DataFrame(list(rows)), index=False, sizing_mode="stretch_width", escape=True,
                             border=0, stylesheets=[TABLE_CSS])
