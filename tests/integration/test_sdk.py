"""The notebook SDK against the real API over HTTP, on every database backend: a creator publishes the example
notebook and a function, an admin approves, a buyer finds, buys and uses them with ``ab.use``.

``ab`` is the module a person imports in a notebook; here each person connects with their own API key (in
the hub, the kernel's token does that). Protected listings run in the server's sandbox, open ones locally.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import alphabook as ab
from alphabook.core.config import PROJECT_ROOT, Settings
from alphabook.core.db import Database
from alphabook.core.errors import Forbidden, InvalidInput, NotFound
from alphabook.research.data import load
from alphabook.sdk import client as sdk_client
from tests.integration.live_api import LiveApi, live_api
from tests.integration.market import key_for

EXAMPLE = PROJECT_ROOT / "notebooks" / "examples" / "smoothed-rsi.ipynb"


@dataclass
class People:
    api: LiveApi
    creator: str
    admin: str
    buyer: str
    suffix: str

    def be(self, key: str) -> ab.Client:
        return ab.connect(self.api.url, api_key=key)


def _secret(database: Database, name: str, roles: list[str] | None = None) -> str:
    return key_for(database, name, roles)["Authorization"].split(" ", 1)[1]


@pytest.fixture
def people(database: Database, tmp_path: Path) -> Iterator[People]:
    suffix = tmp_path.name[-6:].replace("_", "")
    with live_api(Settings(home=tmp_path, database_url=database.url, payment_provider="local")) as api:
        yield People(api, _secret(database, f"maker{suffix}", ["user", "creator"]),
                     _secret(database, f"boss{suffix}", ["user", "admin"]), _secret(database, f"buyer{suffix}"),
                     suffix)
    sdk_client._default = None


def _notebook(tmp_path: Path, name: str = "smoothed-rsi.ipynb") -> Path:
    return Path(shutil.copy(EXAMPLE, tmp_path / name))


def _expected(df: pd.DataFrame, length: int = 14, smooth: int = 3) -> pd.DataFrame:
    change = df["close"].diff()
    gain = change.clip(lower=0).ewm(alpha=1 / length, adjust=False).mean()
    loss = (-change.clip(upper=0)).ewm(alpha=1 / length, adjust=False).mean()
    rsi = (100 - 100 / (1 + gain / loss)).where(np.arange(len(df)) >= length)
    return pd.DataFrame({"rsi": rsi, "signal": rsi.rolling(smooth).mean()})


def _pay(people: People, purchase: dict[str, object]) -> None:
    """The buyer presses Pay on the Local provider's checkout page (what a browser does)."""
    reference = str(purchase["checkout_url"]).rsplit("/", 1)[1]
    reply = httpx.post(f"{people.api.url}/payments/local/checkout/{reference}/pay",
                       headers={"Authorization": f"Bearer {people.buyer}"})
    assert reply.status_code == 200, reply.text


def _approve(people: People, slug: str) -> None:
    """The admin approves from their own connection; whoever ``ab`` is connected as stays connected."""
    ab.Client(people.api.url, people.admin).post(f"/admin/listings/{slug}/approve", {"reason": "looks right"})


def test_publish_the_example_notebook_then_a_buyer_uses_it_remotely(people: People, tmp_path: Path) -> None:
    creator = people.be(people.creator)
    report = ab.publish(_notebook(tmp_path), price="4.99", category="momentum", submit=True, changelog="first")
    assert report.ok and report.published and report.created and report.submitted, str(report)
    slug = f"{creator.username}/smoothed-rsi"
    assert report.slug == slug and report.version == "1.0.0" and report.status == "pending"
    assert [step["name"] for step in report.steps] == ["validation", "test run"]
    assert "✓ test run" in str(report) and "<table>" in report._repr_html_()
    listing = creator.get(f"/listings/{slug}")
    assert listing["title"] == "Smoothed RSI" and "signal line" in listing["description"]
    assert listing["price"]["amount_minor"] == 499 and listing["licence"] == "protected"
    assert listing["versions"][0]["parameter_schema"] == [
        {"name": "length", "type": "int", "default": 14, "minimum": 2.0, "maximum": 100.0,
         "description": "bars in Wilder's average"},
        {"name": "smooth", "type": "int", "default": 3, "minimum": 1.0, "maximum": 20.0,
         "description": "bars in the signal line"}]
    _approve(people, slug)

    again = ab.publish(_notebook(tmp_path), changelog="same code, new number")
    assert again.published and not again.created and again.version == "1.0.1" and not again.submitted

    people.be(people.buyer)
    found = ab.library.search("smoothed rsi")
    assert slug in set(found.slug) and found.set_index("slug").loc[slug, "price"] == "4.99 USD"
    with pytest.raises(Forbidden, match=r"buy it \(4.99 USD\).*ab.buy"):
        ab.use(slug)
    purchase = ab.buy(slug)
    assert purchase["status"] == "pending" and purchase["amount"]["amount_minor"] == 499
    _pay(people, purchase)
    assert slug in set(ab.library.mine().slug)

    rsi = ab.use(slug)
    assert rsi.version == "1.0.0" and rsi.source is None and "sandbox" in repr(rsi)
    assert "f(df, length=14 in 2..100, smooth=3 in 1..20)" in repr(rsi)
    bars = load("NASDAQ:GOOG", "1d").iloc[-400:]
    result = rsi(bars, length=10)
    assert list(result.columns) == ["rsi", "signal"] and result.index.equals(bars.index)
    pd.testing.assert_frame_equal(result, _expected(bars, length=10), check_exact=False, rtol=1e-9)
    with pytest.raises(InvalidInput, match="length must be at most 100"):
        rsi(bars, length=500)
    with pytest.raises(InvalidInput, match="did you mean 'length'"):
        rsi(bars, lenght=5)
    with pytest.raises(Forbidden, match="protected"):
        people.be(people.buyer).get(f"/listings/{slug}/source")


def test_a_broken_notebook_is_reported_by_cell_and_line_and_nothing_is_saved(people: People, tmp_path: Path) -> None:
    creator = people.be(people.creator)
    path = _notebook(tmp_path, "broken.ipynb")
    book = json.loads(path.read_text())
    cell = next(each for each in book["cells"] if "indicator" in each["metadata"].get("tags", []))
    cell["source"] = ("def broken(df, length=14, smooth=3):\n    values = df['close']\n"
                      "    return values.rolling(lenght).mean()\n")
    path.write_text(json.dumps(book))
    report = ab.publish(path)
    assert not report.ok and not report.published and report.slug is None
    [failed] = report.problems
    assert "indicator cell (cell 4), line 3" in failed and "lenght" in failed, failed
    with pytest.raises(NotFound):
        creator.get(f"/listings/{creator.username}/broken")

    del cell["metadata"]["tags"]
    path.write_text(json.dumps(book))
    untagged = ab.publish(path)
    assert not untagged.ok and "No code cell is tagged 'indicator'" in untagged.problems[0]


def breakout(df: pd.DataFrame, window: int = 20) -> pd.DataFrame:
    """Donchian breakout: the highest high and lowest low of the window."""
    return pd.DataFrame({"upper": df["high"].rolling(window).max(), "lower": df["low"].rolling(window).min()})


def test_an_open_function_runs_locally_for_its_owner_and_versions_are_pinned(people: People) -> None:
    creator = people.be(people.creator)
    name = f"breakout{people.suffix}"
    report = ab.publish(breakout, name=name, licence="open", category="trend", submit=True)
    assert report.ok and report.published, str(report)
    slug = f"{creator.username}/{name}"
    title = "Donchian breakout: the highest high and lowest low of the window"
    assert creator.get(f"/listings/{slug}")["title"] == title
    _approve(people, slug)

    people.be(people.buyer)
    assert ab.buy(slug) == {"listing": slug, "version": "1.0.0"}  # free: installed at once
    breakout_here = ab.use(slug)
    assert breakout_here.source is not None and "def indicator" in breakout_here.source
    assert "here, in your kernel" in repr(breakout_here) and "window=20" in repr(breakout_here)
    bars = load("NASDAQ:GOOG", "1d").iloc[-200:]
    pd.testing.assert_frame_equal(breakout_here(bars, window=5), breakout(bars, window=5), check_names=False)

    people.be(people.creator)
    newer = ab.publish(breakout, name=name, version="1.1.0", changelog="faster", submit=True)
    assert newer.published and newer.version == "1.1.0"
    people.be(people.buyer)
    with pytest.raises(InvalidInput, match=r"no version 1\.1\.0 you can run"):
        ab.use(slug, version="1.1.0")  # not approved yet
    _approve(people, slug)
    people.be(people.buyer)
    assert ab.use(slug).version == "1.0.0"  # what was bought stays pinned
    assert ab.use(slug, version="1.1.0").version == "1.1.0"  # a compatible release can be asked for
    with pytest.raises(InvalidInput, match="not a listing"):
        ab.use("no-slash")


def test_indicators_are_the_official_library() -> None:
    bars = load("NASDAQ:GOOG", "1d").iloc[-100:]
    assert ab.indicators.compute("sma", bars, timeperiod=5).iloc[-1] == pytest.approx(bars.close.iloc[-5:].mean())


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """An IPython shell like a notebook kernel's, with the magics loaded as ``%load_ext alphabook`` does."""
    instance = InteractiveShell.instance()
    instance.run_line_magic("load_ext", "alphabook")
    try:
        yield instance
    finally:
        InteractiveShell.clear_instance()


def _run(shell: InteractiveShell, code: str) -> object:
    """Run a cell as a notebook does; what it showed as Out[n] (None when it showed nothing)."""
    number = shell.execution_count
    outcome = shell.run_cell(code, store_history=True)
    assert outcome.error_before_exec is None and outcome.error_in_exec is None, outcome
    return shell.user_ns["Out"].get(number)


def test_the_magics_define_check_and_publish(people: People, shell: InteractiveShell, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    creator = people.be(people.creator)
    name = f"channel{people.suffix}"
    checked = _run(shell, f"""%%ab_indicator {name}
import pandas as pd
def channel(df, window: int = 20):
    return pd.DataFrame({{"upper": df["high"].rolling(window).max(), "lower": df["low"].rolling(window).min()}})
""")
    assert isinstance(checked, ab.PublishReport) and checked.ok and not checked.published, str(checked)
    assert "Checks passed" in checked.message and callable(shell.user_ns["channel"])
    with pytest.raises(NotFound):
        creator.get(f"/listings/{creator.username}/{name}")  # checking saves nothing

    rejected = _run(shell, "%%ab_indicator\ndef leaky(df):\n    import os\n    return df['close']\n")
    assert isinstance(rejected, ab.PublishReport) and not rejected.ok
    assert "the cell, line 3" in rejected.problems[0] and "os" in rejected.problems[0], rejected.problems

    published = _run(shell, f"""%%ab_indicator {name} --publish --submit --price 3.50 --category trend
import pandas as pd
def channel(df, window: int = 20):
    return pd.DataFrame({{"upper": df["high"].rolling(window).max(), "lower": df["low"].rolling(window).min()}})
""")
    assert isinstance(published, ab.PublishReport) and published.published and published.submitted, str(published)
    assert creator.get(f"/listings/{creator.username}/{name}")["price"]["display"] == "3.50 USD"

    notebook = _notebook(tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # what jupyter_server tells the notebook's kernel
    this_notebook = _run(shell, "%ab_publish --category momentum")
    assert isinstance(this_notebook, ab.PublishReport) and this_notebook.slug == f"{creator.username}/smoothed-rsi"
    by_path = _run(shell, f"%ab_publish {notebook} --changelog 'second'")
    assert isinstance(by_path, ab.PublishReport) and by_path.version == "1.0.1"
    shell.user_ns["breakout"] = breakout
    function = _run(shell, f"%ab_publish breakout --name breakout{people.suffix} --licence open")
    assert isinstance(function, ab.PublishReport) and function.published, str(function)

    monkeypatch.delenv("JPY_SESSION_NAME")
    assert _run(shell, "%ab_publish") is None
    assert "Which notebook? Name it: %ab_publish my-indicator.ipynb" in capsys.readouterr().out


def test_importing_alphabook_in_ipython_registers_the_magics() -> None:
    code = "import alphabook as ab; print(sorted(m for m in get_ipython().magics_manager.magics['line'] if 'ab_' in m))"
    shown = subprocess.run([sys.executable, "-m", "IPython", "--quick", "-c", code], capture_output=True, text=True,
                           timeout=120, check=True)
    assert "['ab_publish']" in shown.stdout, shown.stdout + shown.stderr
