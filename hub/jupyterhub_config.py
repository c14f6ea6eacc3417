"""JupyterHub configuration for alphabook, driven by the same settings as everything else.

What it sets up: the public proxy (configurable-http-proxy, installed in ``hub/node_modules`` by the
Makefile), password accounts with sign-up (:mod:`alphabook.accounts.authenticator`), one isolated
JupyterLab per person, the managed services (the alphabook API at ``/services/api/`` and the idle
culler), and the roles that let users reach the services. Start it with ``alphabook run``.
"""

# ruff: noqa: F821  (``c`` is injected by JupyterHub's config loader)
from __future__ import annotations

import os
import sys
from pathlib import Path

from alphabook.accounts.bootstrap import ensure_admin
from alphabook.core import migrations
from alphabook.core.config import PROJECT_ROOT, get_settings
from alphabook.core.db import Database
from alphabook.sandbox.kernelspecs import USER_SERVER_ARGS

settings = get_settings()
settings.ensure_home()
HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
running_as_root = os.geteuid() == 0
containers = settings.spawner != "local"  # user servers in containers or pods: no Unix accounts on the hub
system_users = not containers and (
    settings.isolation == "system-users" or (settings.isolation == "auto" and running_as_root))

# --- the database is migrated and an administrator exists before anyone logs in -----------------
migrations.upgrade(settings.effective_database_url)
_admin = ensure_admin(settings, Database(settings.effective_database_url))
if _admin.new_password:
    print(f"alphabook: administrator '{_admin.name}' created; password: {_admin.new_password}", flush=True)

# --- hub, proxy, state ------------------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://{settings.hub_ip}:{settings.hub_port}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.hub_api_port}"
if settings.hub_connect_host:  # servers and services elsewhere (containers, pods) reach the hub's API by name
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{settings.hub_api_port}"
    c.JupyterHub.hub_connect_url = f"http://{settings.hub_connect_host}:{settings.hub_api_port}"
c.JupyterHub.db_url = f"sqlite:///{settings.hub_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(settings.hub_dir / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(settings.hub_dir / "jupyterhub.pid")
c.JupyterHub.template_paths = [str(HERE / "templates")]
c.JupyterHub.log_level = settings.log_level
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.auth_token = settings.secret("proxy_auth_token")
c.ConfigurableHTTPProxy.pid_file = str(settings.hub_dir / "proxy.pid")

# --- who may log in ---------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = "alphabook.accounts.authenticator.AlphabookAuthenticator"
c.Authenticator.admin_users = {settings.admin_username}
c.AlphabookAuthenticator.database_url = settings.effective_database_url
c.AlphabookAuthenticator.open_signup = settings.open_signup
c.AlphabookAuthenticator.password_min_length = settings.password_min_length
c.AlphabookAuthenticator.password_min_strength = settings.password_min_strength
c.AlphabookAuthenticator.login_max_failures = settings.login_max_failures
c.AlphabookAuthenticator.login_lockout_minutes = settings.login_lockout_minutes
c.AlphabookAuthenticator.home_root = str(settings.user_home_root)
c.AlphabookAuthenticator.create_system_users = system_users
c.AlphabookAuthenticator.public_hub_url = f"{settings.base_url}/hub/"
c.AlphabookAuthenticator.alphabook_settings = settings  # sign-in links (SMTP) and two-factor seeds' key
c.AlphabookAuthenticator.github_client_id = settings.github_client_id
c.AlphabookAuthenticator.github_url = settings.github_url
c.AlphabookAuthenticator.google_client_id = settings.google_client_id
for _name in ("github_client_secret", "google_client_secret"):
    _secret = getattr(settings, _name)
    setattr(c.AlphabookAuthenticator, _name, _secret.get_secret_value() if _secret else "")
c.JupyterHub.load_groups = {"creators": {}}

# --- one isolated JupyterLab per person -------------------------------------------------------------
c.Spawner.cmd = ["jupyterhub-singleuser"] if containers else [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
# The notebook SDK (``import alphabook as ab``) and the JupyterLab extension find the API here and call it
# with the server's own hub token (JUPYTERHUB_API_TOKEN), so nothing needs configuring inside a notebook.
c.Spawner.environment = {
    "ALPHABOOK_API_URL": f"http://{settings.api_host}:{settings.api_port}/services/api/api",
    "ALPHABOOK_PUBLIC_URL": settings.base_url,
} | ({} if containers else {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"})
# Kernels run in bubblewrap (kernels/README.md): only alphabook-research (default) and alphabook-sandbox
# may start, and the server reaches them over ipc sockets because the sandbox has no network.
c.Spawner.args = [*USER_SERVER_ARGS]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
if settings.spawner == "docker":
    # One container per person from the single-user image (docker/singleuser.Dockerfile), on a private network,
    # with a named volume for their home; the image carries the kernels, the sandbox and the lab extension.
    c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
    c.DockerSpawner.image = settings.singleuser_image
    c.DockerSpawner.network_name = settings.docker_network
    c.DockerSpawner.use_internal_ip = True
    c.DockerSpawner.remove = True
    c.DockerSpawner.notebook_dir = "/home/jovyan"
    c.DockerSpawner.volumes = {"alphabook-home-{username}": "/home/jovyan"}
    # bubblewrap needs user namespaces, which Docker's default seccomp and AppArmor profiles refuse.
    c.DockerSpawner.extra_host_config = {"security_opt": ["seccomp=unconfined", "apparmor=unconfined"]}
elif settings.spawner == "kubernetes":  # Zero to JupyterHub configures the rest (hub/k8s/values.yaml)
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.KubeSpawner.image = settings.singleuser_image
elif system_users:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
    # Every folder on the way to the venv and to the Python it links to must be open to other users.
    _needed = {VENV_BIN, Path(os.path.realpath(VENV_BIN / "python")).parent}
    _closed = sorted({str(p) for d in _needed for p in [*d.parents, d] if p.exists() and not p.stat().st_mode & 0o001})
    if _closed:
        sys.exit(
            f"alphabook: user servers run as their own Unix users, who cannot enter {_closed[0]} "
            f"(no execute permission for others), so they cannot start {VENV_BIN / 'jupyterhub-singleuser'}. "
            "Put the checkout where every user can read it (e.g. /opt or /srv) and build .venv from a system "
            "Python (make PYTHON=/usr/bin/python3.11), or run 'chmod o+x' on that folder."
        )
else:
    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(settings.home / "users" / "{username}")
    print(
        "alphabook: WARNING: user servers are NOT isolated: every person's JupyterLab and kernels run as "
        f"the Unix user '{os.environ.get('USER', os.geteuid())}' and can read each other's files. "
        "Run 'alphabook run' as root (or set ALPHABOOK_ISOLATION=system-users as root) to give each "
        "person a Unix account with a private home.",
        file=sys.stderr,
        flush=True,
    )

# --- managed services -------------------------------------------------------------------------------
_service_env = {key: value for key, value in os.environ.items() if key.startswith("ALPHABOOK_")}
_service_env |= {"ALPHABOOK_HOME": str(settings.home), "ALPHABOOK_DATABASE_URL": settings.effective_database_url}


def _service(name: str, port: int, command: list[str], description: str, *, display: bool = True) -> dict[str, object]:
    """A service reached at /services/<name>/ through the hub's OAuth: started by the hub with alphabook's
    settings, or, with ``services=external``, running in its own container and authenticated by its token."""
    service: dict[str, object] = {"name": name, "oauth_no_confirm": True, "display": display,
                                  "info": {"description": description}}
    if settings.services == "managed":
        return service | {"url": f"http://127.0.0.1:{port}", "command": command, "environment": _service_env,
                          "cwd": str(PROJECT_ROOT)}
    token = getattr(settings, f"{name}_service_token")
    if token is None:
        sys.exit(f"alphabook: services are external, so the hub needs the {name} service's token: set "
                 f"ALPHABOOK_{name.upper()}_SERVICE_TOKEN (the same value as that container's JUPYTERHUB_API_TOKEN).")
    host = getattr(settings, f"{name}_host")
    return service | {"url": f"http://{host}:{port}", "api_token": token.get_secret_value()}


c.JupyterHub.services = [
    _service("api", settings.api_port, [str(VENV_BIN / "alphabook"), "api"],
             "The alphabook REST API; documentation at /services/api/api/docs"),
    _service("dashboards", settings.dashboards_port, [sys.executable, "-m", "dashboards"],
             "Marketplace, library, creator, admin and demo-trading dashboards (Panel)"),
    _service("voila", settings.voila_port, [sys.executable, "-m", "dashboards.voila_service"],
             "Notebook pages (listing previews, run outputs) rendered by Voila in the sandbox", display=False),
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={settings.idle_cull_timeout}"],
    },
]
if settings.services == "managed":
    # Scheduled notebook runs belong to the hub, not to a person's server: they go on when idle servers are culled.
    # (With external services, Celery beat and workers run in containers of their own.)
    c.JupyterHub.services.append({"name": "scheduler", "command": [str(VENV_BIN / "alphabook"), "scheduler", "run"],
                                  "environment": _service_env, "cwd": str(PROJECT_ROOT)})
c.JupyterHub.load_roles = [
    # Everyone may use the hub's services (the API) with their own token.
    {"name": "user", "scopes": ["self", "access:services"]},
    # The API and the dashboards read who is an admin and who is in the 'creators' group.
    {"name": "alphabook-api", "scopes": ["list:users", "read:users", "read:groups"], "services": ["api", "dashboards"]},
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
]
