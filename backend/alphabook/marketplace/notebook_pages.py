"""A notebook listing's live preview: its approved version, rendered by the Voila service in the sandbox kernel.

Indicators and strategies are previewed as charts (:mod:`alphabook.marketplace.previews`); a notebook is its own
page. The active approved version is written once under ``<home>/voila/listings/<creator>/<name>/<version>.ipynb``
(the folder the ``voila`` hub service serves; a version never changes, so neither does its file), with its
outputs cleared so that what a visitor sees is what the sandbox computes for them. Voila shows outputs only and
serves no notebook's source (see ``dashboards/voila_service.py``), so protected notebooks stay protected.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat

from alphabook.core.config import Settings
from alphabook.core.errors import Conflict
from alphabook.marketplace.models import Listing, ListingKind, ListingStatus

__all__ = ["VOILA_PREFIX", "notebook_page"]

VOILA_PREFIX = "/services/voila/"
SANDBOX_KERNELSPEC = {"name": "alphabook-sandbox", "display_name": "Python 3 (sandboxed: no network, no home)",
                      "language": "python"}


def notebook_page(settings: Settings, listing: Listing) -> str:
    """The path of ``listing``'s live preview page (its file written first if need be); Conflict when it is not
    an approved notebook."""
    if listing.kind != ListingKind.NOTEBOOK:
        raise Conflict(f"{listing.slug} is an {listing.kind}: its preview is a chart, not a notebook page.")
    version = listing.active_version
    if listing.status != ListingStatus.APPROVED or version is None:
        raise Conflict(f"{listing.slug} has no approved version yet, so there is nothing to preview.")
    relative = Path("listings") / listing.slug / f"{version.version}.ipynb"
    target = settings.home / "voila" / relative
    if not target.exists():
        _write(target, version.code)
    return f"{VOILA_PREFIX}voila/render/{relative.as_posix()}"


def _write(target: Path, code: str) -> None:
    """Write atomically (two visitors may ask at once), outputs cleared, in the sandbox kernel, readable by the
    Voila service whatever user it runs as."""
    notebook = nbformat.reads(code, as_version=4)  # type: ignore[no-untyped-call]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata["kernelspec"] = dict(SANDBOX_KERNELSPEC)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        nbformat.write(notebook, out)  # type: ignore[no-untyped-call]
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
