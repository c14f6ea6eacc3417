"""A run's executed notebook, as the file papermill wrote and as HTML (nbconvert renders it)."""

from __future__ import annotations

from pathlib import Path

from alphabook.core.config import Settings
from alphabook.core.errors import NotFound
from alphabook.scheduler.models import Run

__all__ = ["SANDBOXED", "as_html", "notebook_path"]

#: Served with every rendered run: a notebook's outputs may hold scripts (a listing's are someone else's), so the
#: page runs in an opaque origin of its own, where scripts cannot read the viewer's cookies or call our services.
SANDBOXED = "sandbox allow-scripts allow-popups; frame-ancestors 'self'"


def notebook_path(run: Run, settings: Settings) -> Path:
    if run.output_path is None:
        raise NotFound(f"Run {run.id} has no output notebook (it is {run.status.replace('_', ' ')}).")
    path = (settings.run_store / run.output_path).resolve()
    if settings.run_store.resolve() not in path.parents or not path.is_file():
        raise NotFound(f"The output of run {run.id} is no longer stored.")
    return path


def as_html(run: Run, settings: Settings) -> str:
    """The output notebook rendered by nbconvert's lab template (outputs, charts and the failing cell's error)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(notebook_path(run, settings), as_version=4)  # type: ignore[no-untyped-call]
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)  # type: ignore[no-untyped-call]
    return str(body)
