"""Settings: real defaults, ALPHABOOK_* overrides, a .env file, help text, private secrets, masking."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from alphabook.core.config import PROJECT_ROOT, Settings


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Forget the developer's ALPHABOOK_* variables and run where no .env file exists."""
    for name in list(os.environ):
        if name.upper().startswith("ALPHABOOK_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask of 0, so that private permissions can only come from the code setting them."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _row(settings: Settings, env_name: str) -> tuple[str, str, str]:
    rows = [row for row in settings.described() if row[0] == env_name]
    assert len(rows) == 1, f"{env_name} should be described exactly once"
    return rows[0]


# --- defaults ---------------------------------------------------------------------------------


def test_project_root_is_the_checkout() -> None:
    assert (PROJECT_ROOT / "pyproject.toml").is_file()
    assert (PROJECT_ROOT / "backend" / "alphabook" / "core" / "config.py").is_file()


def test_defaults_need_no_configuration() -> None:
    settings = Settings()
    assert settings.home == PROJECT_ROOT / "var"
    assert settings.database_url == ""
    assert settings.effective_database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'alphabook.db'}"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.hub_port == 8000
    assert settings.admin_username == "admin"
    assert settings.admin_password is None
    assert settings.password_min_length == 10
    assert settings.password_min_strength == 2
    assert settings.isolation == "auto"
    assert settings.log_level == "INFO"


def test_derived_folders_live_under_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    assert settings.hub_dir == tmp_path / "home" / "hub"
    assert settings.log_dir == tmp_path / "home" / "logs"
    assert settings.secrets_dir == tmp_path / "home" / "secrets"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'home' / 'alphabook.db'}"


def test_explicit_database_url_wins_over_sqlite_default(tmp_path: Path) -> None:
    url = "postgresql+psycopg://bob@db:5432/alphabook"
    assert Settings(home=tmp_path, database_url=url).effective_database_url == url


def test_base_url_follows_hub_address_and_public_url() -> None:
    assert Settings(hub_ip="0.0.0.0", hub_port=9999).base_url == "http://0.0.0.0:9999"
    assert Settings(public_url="https://books.example.com/").base_url == "https://books.example.com"


# --- sources ----------------------------------------------------------------------------------


def test_environment_variable_with_prefix_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHABOOK_HUB_PORT", "9000")
    monkeypatch.setenv("ALPHABOOK_OPEN_SIGNUP", "false")
    settings = Settings()
    assert settings.hub_port == 9000
    assert settings.open_signup is False
    assert settings.base_url == "http://127.0.0.1:9000"


def test_unprefixed_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_PORT", "9000")
    assert Settings().hub_port == 8000


def test_bad_environment_value_is_a_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHABOOK_HUB_PORT", "abc")
    with pytest.raises(ValidationError, match="hub_port"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALPHABOOK_PASSWORD_MIN_LENGTH", "7"),
        ("ALPHABOOK_PASSWORD_MIN_STRENGTH", "5"),
        ("ALPHABOOK_ISOLATION", "docker"),
        ("ALPHABOOK_LOG_LEVEL", "LOUD"),
        ("ALPHABOOK_IDLE_CULL_TIMEOUT", "10"),
    ],
)
def test_out_of_range_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_dotenv_file_in_working_directory_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("ALPHABOOK_HUB_PORT=9100\nALPHABOOK_ADMIN_USERNAME=root\nUNRELATED=1\n", encoding="utf-8")
    settings = Settings()
    assert settings.hub_port == 9100
    assert settings.admin_username == "root"

    monkeypatch.setenv("ALPHABOOK_HUB_PORT", "9200")
    assert Settings().hub_port == 9200, "a real environment variable beats the .env file"


def test_environment_secret_becomes_secretstr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHABOOK_ADMIN_PASSWORD", "swordfish-swordfish")
    settings = Settings()
    assert isinstance(settings.admin_password, SecretStr)
    assert settings.admin_password.get_secret_value() == "swordfish-swordfish"
    assert "swordfish" not in repr(settings)


# --- help text --------------------------------------------------------------------------------


def test_every_setting_has_help_text() -> None:
    assert Settings.model_fields, "Settings declares no fields?"
    missing = [
        name for name, field in Settings.model_fields.items() if not (field.description and field.description.strip())
    ]
    assert missing == []


def test_described_lists_every_setting_with_its_help() -> None:
    rows = Settings().described()
    assert [env for env, _, _ in rows] == [f"ALPHABOOK_{name.upper()}" for name in Settings.model_fields]
    for (_, _, help_text), field in zip(rows, Settings.model_fields.values(), strict=True):
        assert help_text == field.description


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("permissive_umask")
def test_secret_is_generated_privately_and_is_stable(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = settings.secret("cookie_secret")

    path = settings.secrets_dir / "cookie_secret"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.secrets_dir.stat().st_mode) == 0o700
    assert path.read_text().strip() == first
    assert len(first) >= 32

    assert settings.secret("cookie_secret") == first
    assert Settings(home=tmp_path / "home").secret("cookie_secret") == first, "survives a restart"
    assert settings.secret("other_secret") != first


@pytest.mark.usefixtures("permissive_umask")
def test_existing_secrets_dir_is_made_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.secrets_dir.mkdir(parents=True)
    settings.secrets_dir.chmod(0o755)
    settings.secret("token")
    assert stat.S_IMODE(settings.secrets_dir.stat().st_mode) == 0o700


def test_existing_secret_file_is_reused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    (settings.secrets_dir / "given").write_text("operator-chosen\n")
    assert settings.secret("given") == "operator-chosen"


def test_ensure_home_creates_the_folders(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "a" / "home")
    settings.ensure_home()
    for folder in (settings.home, settings.hub_dir, settings.log_dir, settings.secrets_dir):
        assert folder.is_dir()


# --- described(): masking ---------------------------------------------------------------------


def test_described_masks_secret_values(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        admin_password=SecretStr("s3cret-admin-pass"),
        github_client_secret=SecretStr("gh-oauth-secret"),
    )
    rows = settings.described()
    assert _row(settings, "ALPHABOOK_ADMIN_PASSWORD")[1] == "********"
    assert _row(settings, "ALPHABOOK_GITHUB_CLIENT_SECRET")[1] == "********"
    shown = "\n".join(value for _, value, _ in rows)
    assert "s3cret-admin-pass" not in shown
    assert "gh-oauth-secret" not in shown


def test_described_marks_unset_values(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert _row(settings, "ALPHABOOK_ADMIN_PASSWORD")[1] == "(unset)"
    assert _row(settings, "ALPHABOOK_PUBLIC_URL")[1] == "(unset)"
    assert _row(settings, "ALPHABOOK_HUB_PORT")[1] == "8000"
    assert _row(settings, "ALPHABOOK_HOME")[1] == str(tmp_path)


def test_described_unset_database_url_shows_the_sqlite_default(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert _row(settings, "ALPHABOOK_DATABASE_URL")[1] == f"(unset) -> sqlite:///{tmp_path / 'alphabook.db'}"


def test_described_hides_the_database_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql+psycopg://bob:hunter2@db/x")
    shown = _row(settings, "ALPHABOOK_DATABASE_URL")[1]
    assert "hunter2" not in shown
    assert "bob" in shown
    assert "@db/x" in shown
    assert shown.startswith("postgresql+psycopg://")
    assert all("hunter2" not in value for _, value, _ in settings.described())
