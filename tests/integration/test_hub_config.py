"""hub/jupyterhub_config.py, loaded by traitlets exactly as JupyterHub loads it, under different settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alphabook.core.config import PROJECT_ROOT

LOAD = """
import json
from traitlets.config.loader import PyFileConfigLoader
c = PyFileConfigLoader("jupyterhub_config.py", path="{hub}").load_config()
auth = c.AlphabookAuthenticator
print(json.dumps({{
    "spawner": c.JupyterHub.spawner_class,
    "system_users": auth.create_system_users,
    "github_id": auth.github_client_id, "github_secret": auth.github_client_secret,
    "database_url": auth.database_url,
    "services": {{s["name"]: s for s in c.JupyterHub.services}},
    "roles": {{r["name"]: r for r in c.JupyterHub.load_roles}},
    "proxy": c.ConfigurableHTTPProxy.command,
    "bind_url": c.JupyterHub.bind_url,
    "hub_bind_url": c.JupyterHub.hub_bind_url,
    "hub_connect_url": c.JupyterHub.hub_connect_url if "hub_connect_url" in c.JupyterHub else None,
    "docker": {{"image": c.DockerSpawner.image, "network": c.DockerSpawner.network_name}}
              if "DockerSpawner" in c else None,
    "user_env": c.Spawner.environment,
}}))
"""


def _load(home: Path, database_url: str, **env: str) -> tuple[dict[str, Any], str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")}
    environment |= {"ALPHABOOK_HOME": str(home), "ALPHABOOK_DATABASE_URL": database_url, **env}
    result = subprocess.run([sys.executable, "-c", LOAD.format(hub=PROJECT_ROOT / "hub")], env=environment,
                            capture_output=True, text=True, cwd=home, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def test_without_root_isolation_it_says_what_is_lost(tmp_path: Path, fresh_database_url: str) -> None:
    config, stderr = _load(tmp_path, fresh_database_url, ALPHABOOK_ISOLATION="none", ALPHABOOK_HUB_PORT="8123")
    assert config["spawner"] == "jupyterhub.spawner.SimpleLocalProcessSpawner"
    assert "NOT isolated" in stderr and "as root" in stderr
    assert config["bind_url"] == "http://127.0.0.1:8123"
    assert config["database_url"] == fresh_database_url


def test_auto_isolation_gives_unix_accounts_exactly_when_root(tmp_path: Path, fresh_database_url: str) -> None:
    config, stderr = _load(tmp_path, fresh_database_url)
    if os.geteuid() == 0:  # CI and `make run` as root: one Unix account per person
        assert config["spawner"] == "jupyterhub.spawner.LocalProcessSpawner"
        assert config["system_users"] is True
        assert "NOT isolated" not in stderr
    else:  # anyone else gets the shared-user spawner and is told so
        assert config["spawner"] == "jupyterhub.spawner.SimpleLocalProcessSpawner"
        assert config["system_users"] is False
        assert "NOT isolated" in stderr


def test_services_roles_proxy_and_providers(tmp_path: Path, fresh_database_url: str) -> None:
    config, _ = _load(tmp_path, fresh_database_url, ALPHABOOK_ISOLATION="none",
                      ALPHABOOK_GITHUB_CLIENT_ID="gh-id", ALPHABOOK_GITHUB_CLIENT_SECRET="gh-secret")
    assert set(config["services"]) == {"api", "dashboards", "voila", "scheduler", "idle-culler"}
    assert config["services"]["scheduler"]["command"][-2:] == ["scheduler", "run"]  # runs outlive culled servers
    assert config["services"]["api"]["command"][-1] == "api"
    assert config["services"]["dashboards"]["command"][-2:] == ["-m", "dashboards"]
    assert config["services"]["voila"]["command"][-2:] == ["-m", "dashboards.voila_service"]
    for name in ("api", "dashboards", "voila", "scheduler"):
        assert config["services"][name]["environment"]["ALPHABOOK_DATABASE_URL"] == fresh_database_url
    assert set(config["roles"]) == {"user", "alphabook-api", "idle-culler"}  # services are not roles
    assert config["roles"]["alphabook-api"]["services"] == ["api", "dashboards"]
    assert "access:services" in config["roles"]["user"]["scopes"]
    assert "delete:servers" in config["roles"]["idle-culler"]["scopes"]
    assert config["proxy"] == [str(PROJECT_ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy")]
    assert (config["github_id"], config["github_secret"]) == ("gh-id", "gh-secret")
    # Loading the config migrated the database and created the administrator with a generated password.
    secret = tmp_path / "secrets" / "admin_password"
    assert secret.exists() and oct(secret.stat().st_mode & 0o777) == "0o600"


def test_containers_external_services_and_the_hub_reached_by_name(tmp_path: Path, fresh_database_url: str) -> None:
    """docker-compose's settings: DockerSpawner, services in their own containers, the hub's API on the network."""
    config, _ = _load(tmp_path, fresh_database_url, ALPHABOOK_SPAWNER="docker", ALPHABOOK_SERVICES="external",
                      ALPHABOOK_HUB_CONNECT_HOST="hub", ALPHABOOK_API_HOST="api",
                      ALPHABOOK_DASHBOARDS_HOST="dashboards", ALPHABOOK_VOILA_HOST="voila",
                      ALPHABOOK_API_SERVICE_TOKEN="t-api", ALPHABOOK_DASHBOARDS_SERVICE_TOKEN="t-dash",
                      ALPHABOOK_VOILA_SERVICE_TOKEN="t-voila",
                      ALPHABOOK_SINGLEUSER_IMAGE="alphabook/singleuser:test")
    assert config["spawner"] == "dockerspawner.DockerSpawner" and config["system_users"] is False
    assert config["docker"] == {"image": "alphabook/singleuser:test", "network": "alphabook-users"}
    assert config["hub_connect_url"] == "http://hub:8081" and config["hub_bind_url"] == "http://0.0.0.0:8081"
    assert set(config["services"]) == {"api", "dashboards", "voila", "idle-culler"}  # beat runs in its own container
    assert config["services"]["api"]["url"] == "http://api:8010" and config["services"]["api"]["api_token"] == "t-api"
    assert "command" not in config["services"]["dashboards"]
    assert config["user_env"]["ALPHABOOK_API_URL"] == "http://api:8010/services/api/api"


def test_external_services_need_their_tokens(tmp_path: Path, fresh_database_url: str) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")}
    environment |= {"ALPHABOOK_HOME": str(tmp_path), "ALPHABOOK_DATABASE_URL": fresh_database_url,
                    "ALPHABOOK_SERVICES": "external", "ALPHABOOK_ISOLATION": "none"}
    result = subprocess.run([sys.executable, "-c", LOAD.format(hub=PROJECT_ROOT / "hub")], env=environment,
                            capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode != 0 and "ALPHABOOK_API_SERVICE_TOKEN" in result.stderr
