"""Notebooks are stored without outputs (they are executed by nbval in the test run instead)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from alphabook.core.config import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").rglob("*.ipynb"))


def test_the_example_notebooks_exist() -> None:
    names = {path.stem for path in NOTEBOOKS}
    assert {"01-quickstart", "02-optimize-walk-forward", "03-write-an-indicator", "04-publish-and-use",
            "smoothed-rsi"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has stored outputs"
