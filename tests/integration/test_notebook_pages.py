"""A notebook listing's live preview page: the approved version written once for the Voila service, outputs
cleared and set to the sandbox kernel; nothing for listings that are not approved notebooks."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from sqlalchemy.orm import Session

from alphabook.accounts import service
from alphabook.core.config import Settings
from alphabook.core.errors import Conflict
from alphabook.marketplace.notebook_pages import notebook_page
from tests.integration.market import make_listing


def _notebook() -> str:
    book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    cell = nbformat.v4.new_code_cell("print('creator output')", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="stale output\n")])
    book.cells = [nbformat.v4.new_markdown_cell("# Walk-forward study"), cell]
    return str(nbformat.writes(book))


def test_an_approved_notebook_gets_a_sandboxed_page_written_once(session: Session, tmp_path: Path) -> None:
    creator = service.ensure_user(session, "studies", roles=["user", "creator"])
    listing = make_listing(session, creator, "walk-forward", 900, kind="notebook")
    listing.versions[0].code = _notebook()
    settings = Settings(home=tmp_path)
    address = notebook_page(settings, listing)
    assert address == "/services/voila/voila/render/listings/studies/walk-forward/1.0.0.ipynb"
    written = tmp_path / "voila" / "listings" / "studies" / "walk-forward" / "1.0.0.ipynb"
    book = nbformat.read(written, as_version=4)
    assert book.metadata["kernelspec"]["name"] == "alphabook-sandbox"
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code[0].outputs == [] and code[0].execution_count is None  # visitors see what the sandbox computes
    assert oct(written.stat().st_mode & 0o777) == "0o644"
    stamp = written.stat().st_mtime_ns
    assert notebook_page(settings, listing) == address
    assert written.stat().st_mtime_ns == stamp  # a version never changes, nor does its page


def test_only_approved_notebooks_have_a_page(session: Session, tmp_path: Path) -> None:
    creator = service.ensure_user(session, "charts", roles=["user", "creator"])
    indicator = make_listing(session, creator, "sma", 0)
    with pytest.raises(Conflict, match="its preview is a chart"):
        notebook_page(Settings(home=tmp_path), indicator)
    draft = make_listing(session, creator, "draft-study", 0, kind="notebook")
    draft.status = "pending"
    with pytest.raises(Conflict, match="no approved version"):
        notebook_page(Settings(home=tmp_path), draft)
    assert not (tmp_path / "voila").exists()
