"""The ``alphabook`` command as an operator types it, against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pyotp
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import inspect

from alphabook import __version__
from alphabook.accounts import passwords, two_factor
from alphabook.accounts.passwords import PasswordPolicy
from alphabook.accounts.service import find_user
from alphabook.core import audit
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.secrets_at_rest import cipher_for

ALPHABOOK = str(Path(sys.executable).parent / "alphabook")


def _run(
    args: list[str], home: Path, database_url: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")}
    env |= {"ALPHABOOK_HOME": str(home), "ALPHABOOK_DATABASE_URL": database_url, "COLUMNS": "200", **extra}
    return subprocess.run([ALPHABOOK, *args], input=stdin, capture_output=True, text=True, env=env, cwd=home,
                          timeout=120, check=False)


def test_version(tmp_path: Path, fresh_database_url: str) -> None:
    result = _run(["version"], tmp_path, fresh_database_url)
    assert result.returncode == 0 and __version__ in result.stdout


def test_db_upgrade_and_downgrade(tmp_path: Path, fresh_database_url: str) -> None:
    assert _run(["db", "upgrade"], tmp_path, fresh_database_url).returncode == 0
    database = Database(fresh_database_url)
    try:
        assert "users" in inspect(database.engine).get_table_names()
        result = _run(["db", "downgrade", "base"], tmp_path, fresh_database_url)
        assert result.returncode == 0, result.stderr
        inspector = inspect(database.engine)
        assert "users" not in inspector.get_table_names()
    finally:
        database.dispose()


def test_user_create_then_log_in(tmp_path: Path, fresh_database_url: str) -> None:
    password = "a-quiet-orchard-in-june-42"
    result = _run(["user", "create", "quinn", "--password-stdin"], tmp_path, fresh_database_url, stdin=password)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "quinn" in result.stdout and "/hub/login" in result.stdout
    database = Database(fresh_database_url)
    try:
        with database.session() as session:
            policy = PasswordPolicy.from_settings(Settings())
            assert passwords.log_in(session, "quinn", password, policy) is not None
    finally:
        database.dispose()
    weak = _run(["user", "create", "rupert", "--password-stdin"], tmp_path, fresh_database_url, stdin="letmein")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stdout


def test_an_operator_resets_a_lost_second_factor(tmp_path: Path, fresh_database_url: str) -> None:
    assert _run(["user", "create", "wren", "--password-stdin"], tmp_path, fresh_database_url,
                stdin="a-quiet-orchard-in-june-42").returncode == 0
    database = Database(fresh_database_url)
    try:
        with database.session() as session:
            wren = find_user(session, "wren")
            assert wren is not None
            cipher = cipher_for(Settings(home=tmp_path))
            enrolment = two_factor.begin_enrolment(session, wren, cipher, issuer="alphabook")
            two_factor.confirm_enrolment(session, wren, pyotp.TOTP(enrolment.secret).now(), cipher)
        result = _run(["user", "reset-2fa", "wren", "--reason", "ID checked on a video call"], tmp_path,
                      fresh_database_url)
        assert result.returncode == 0 and "is off" in result.stdout, result.stdout + result.stderr
        with database.session() as session:
            wren = find_user(session, "wren")
            assert wren is not None and not two_factor.is_enabled(session, wren)
            [entry] = [e for e in audit.entries(session, subject="user:wren") if e.action == "user.two_factor_disabled"]
            assert entry.actor == "cli" and entry.data == {"reason": "ID checked on a video call"}
    finally:
        database.dispose()
    again = _run(["user", "reset-2fa", "wren", "--reason", "twice"], tmp_path, fresh_database_url)
    assert again.returncode == 0 and "had no two-factor" in again.stdout
    missing = _run(["user", "reset-2fa", "nobody", "--reason", "x"], tmp_path, fresh_database_url)
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stdout


def test_config_show_masks_secrets(tmp_path: Path, fresh_database_url: str) -> None:
    result = _run(["config", "show"], tmp_path, "postgresql+psycopg://bob:hunter2@db.example:5432/ab",
                  ALPHABOOK_ADMIN_PASSWORD="s3cret-admin-pass", ALPHABOOK_HUB_PORT="9123")
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout and "s3cret-admin-pass" not in result.stdout
    assert "********" in result.stdout and "9123" in result.stdout
    assert "ALPHABOOK_PASSWORD_MIN_LENGTH" in result.stdout


def test_library_seed_is_idempotent_and_browsable(tmp_path: Path, fresh_database_url: str) -> None:
    from sqlalchemy import func, select

    from alphabook.marketplace.models import Listing, ListingVersion

    first = _run(["library", "seed"], tmp_path, fresh_database_url)
    assert first.returncode == 0, first.stderr
    assert "listings added" in first.stdout
    second = _run(["library", "seed"], tmp_path, fresh_database_url)
    assert second.returncode == 0 and " 0 listings added" in second.stdout, second.stdout
    database = Database(fresh_database_url)
    try:
        with database.session() as session:
            listings = session.scalar(select(func.count()).select_from(Listing).where(
                Listing.official.is_(True), Listing.status == "approved", Listing.price_minor == 0,
                Listing.licence == "open"))
            assert listings is not None and listings >= 200
            rsi = session.scalars(select(ListingVersion).join(Listing).where(Listing.slug == "alphabook/rsi")).one()
            assert rsi.active and rsi.report["ok"] and rsi.preview is not None
            assert {"name": "timeperiod", "type": "int"}.items() <= rsi.parameter_schema[0].items()
    finally:
        database.dispose()


def test_jobs_from_the_command_line(tmp_path: Path, fresh_database_url: str) -> None:
    """An operator schedules a person's notebook, queues a run, lets one scheduler turn execute it, reads it."""
    assert _run(["db", "upgrade"], tmp_path, fresh_database_url).returncode == 0
    assert _run(["user", "create", "quant", "--password-stdin"], tmp_path, fresh_database_url,
                stdin="a-quiet-orchard-in-june-42").returncode == 0
    book = new_notebook(cells=[new_code_cell("who = 'x'", metadata={"tags": ["parameters"]}),
                               new_code_cell("print('report for', who)")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "users" / "quant").mkdir(parents=True)
    nbformat.write(book, tmp_path / "users" / "quant" / "report.ipynb")
    isolation = {"ALPHABOOK_ISOLATION": "none"}
    bad = _run(["jobs", "create", "--user", "quant", "--name", "r", "--notebook", "report.ipynb", "--cron", "0 9 * *"],
               tmp_path, fresh_database_url, **isolation)
    assert bad.returncode != 0 and "not a cron schedule" in bad.stdout + bad.stderr
    created = _run(["jobs", "create", "--user", "quant", "--name", "report", "--notebook", "report.ipynb",
                    "--cron", "0 9 * * 1-5", "--tz", "Europe/Paris", "-p", "who=desk"], tmp_path, fresh_database_url,
                   **isolation)
    assert created.returncode == 0 and "job 1 created" in created.stdout, created.stdout + created.stderr
    listed = _run(["jobs", "list", "--user", "quant"], tmp_path, fresh_database_url, **isolation)
    assert "At 09:00 on Monday through Friday (Europe/Paris)" in listed.stdout
    database = Database(fresh_database_url)
    try:
        with database.engine.begin() as connection:  # the python3 kernel: this test is about the command line
            connection.exec_driver_sql("UPDATE jobs SET kernel = 'python3'")
    finally:
        database.dispose()
    assert "run 1 queued" in _run(["jobs", "run", "--user", "quant", "1"], tmp_path, fresh_database_url,
                                  **isolation).stdout
    turn = _run(["scheduler", "run", "--once"], tmp_path, fresh_database_url, **isolation)
    assert "run 1 executed" in turn.stdout, turn.stdout + turn.stderr
    runs = _run(["jobs", "runs", "--user", "quant"], tmp_path, fresh_database_url, **isolation)
    assert "succeeded" in runs.stdout
    html = _run(["jobs", "output", "--user", "quant", "1"], tmp_path, fresh_database_url, **isolation)
    assert "report for desk" in html.stdout
