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
