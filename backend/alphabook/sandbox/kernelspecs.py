"""Which Jupyter kernels a person's server may start, and how alphabook's kernelspecs are installed.

``KernelSpecManager.allowed_kernelspecs`` only hides kernels from the list: ``POST /api/kernels
{"name": "python3"}`` still starts an unsandboxed one, because jupyter_client's ``get_kernel_spec``
never consults it. jupyter_server starts every kernel (REST, sessions, restarts) through a
``KernelManager`` whose ``kernel_spec`` property calls the server's kernel-spec manager's
``get_kernel_spec``, so refusing there closes the door for all of them. The user servers run with
``--ServerApp.kernel_spec_manager_class=alphabook.sandbox.kernelspecs.AllowListKernelSpecManager``.

The allowed names are only looked up where an operator installed them (the venv and the system data
folders, not ``~/.local/share/jupyter``), and their ``argv`` must run the bubblewrap launcher: a
kernelspec that merely borrows the name is refused too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import ENV_JUPYTER_PATH, SYSTEM_JUPYTER_PATH, jupyter_runtime_dir
from jupyter_core.utils import ensure_dir_exists
from tornado import web
from traitlets import default

from alphabook.core.config import PROJECT_ROOT

SANDBOX_KERNEL = "alphabook-sandbox"
RESEARCH_KERNEL = "alphabook-research"
ALLOWED_KERNELS = frozenset({RESEARCH_KERNEL, SANDBOX_KERNEL})
DEFAULT_KERNEL = RESEARCH_KERNEL
LAUNCHER_MODULE = "alphabook.sandbox.kernel_launcher"
KERNELSPEC_SOURCES = PROJECT_ROOT / "kernels"


class KernelNotAllowed(NoSuchKernel, web.HTTPError):
    """A kernel outside the allow-list was asked for.

    It is a ``NoSuchKernel`` so that jupyter_client callers and the sessions API treat it as a missing
    kernel, and a tornado ``HTTPError`` (403) so that ``POST /api/kernels`` answers with this message
    instead of a bare "Unhandled error".
    """

    def __init__(self, name: str, allowed: Iterable[str]) -> None:
        self.allowed = sorted(allowed)
        message = (
            f"Kernel {name!r} is not allowed on alphabook: notebooks run in sandboxed kernels only. "
            f"Choose one of {', '.join(self.allowed) or '(none configured)'}."
        )
        NoSuchKernel.__init__(self, name)
        web.HTTPError.__init__(self, 403, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class AllowListKernelSpecManager(KernelSpecManager):
    """Lists and starts only the allowed kernelspecs, found only in trusted folders."""

    @default("allowed_kernelspecs")
    def _default_allowed(self) -> set[str]:
        return set(ALLOWED_KERNELS)

    @default("ensure_native_kernel")
    def _default_ensure_native(self) -> bool:
        # ipykernel's built-in "python3" would otherwise be offered even when nothing installed it.
        return False

    def _kernel_dirs_default(self) -> list[str]:
        # Not the person's ~/.local/share/jupyter (nor JUPYTER_PATH): a spec named alphabook-sandbox
        # there would replace the sandbox with whatever it says.
        return [os.path.join(path, "kernels") for path in [*ENV_JUPYTER_PATH, *SYSTEM_JUPYTER_PATH]]

    def find_kernel_specs(self) -> dict[str, str]:
        found: dict[str, str] = super().find_kernel_specs()
        return {name: path for name, path in found.items() if name in self.allowed_kernelspecs}

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name not in self.allowed_kernelspecs:
            self.log.warning("Refused to start kernel %r: not in %s", kernel_name, sorted(self.allowed_kernelspecs))
            raise KernelNotAllowed(kernel_name, self.allowed_kernelspecs)
        spec: KernelSpec = super().get_kernel_spec(kernel_name)
        if not runs_launcher(spec.argv):
            self.log.warning("Refused kernelspec %r in %s: it does not run %s", kernel_name, spec.resource_dir,
                             LAUNCHER_MODULE)
            raise KernelNotAllowed(kernel_name, [])
        return spec


class IpcKernelManager(AsyncKernelManager):
    """A kernel manager that talks to its kernel over ipc sockets, for code that runs notebooks itself.

    papermill (``kernel_manager_class=``), nbclient and Voila create their own kernel managers, on TCP
    by default, which cannot reach a kernel in its own network namespace. Pass this class (or
    ``--KernelManager.transport=ipc``) wherever they start an alphabook kernel.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("connection_file")
    def _default_connection_file(self) -> str:
        # Without one, jupyter_client names the sockets "kernel-ipc-<port>" relative to the working directory.
        runtime = jupyter_runtime_dir()
        ensure_dir_exists(runtime, 0o700)
        return os.path.join(runtime, f"kernel-{uuid.uuid4()}.json")


#: What a person's server is started with (hub/jupyterhub_config.py's ``c.Spawner.args``; the tests use
#: the same): this allow-list, the research kernel by default, and ipc, because a kernel in its own
#: network namespace has its own loopback (``KernelManager`` is the class jupyter_server's
#: ``ServerKernelManager`` inherits ``transport`` from, so the setting reaches every kernel it starts).
USER_SERVER_ARGS: tuple[str, ...] = (
    f"--ServerApp.kernel_spec_manager_class={AllowListKernelSpecManager.__module__}.AllowListKernelSpecManager",
    f"--MappingKernelManager.default_kernel_name={DEFAULT_KERNEL}",
    "--KernelManager.transport=ipc",
)


def runs_launcher(argv: list[str]) -> bool:
    """Whether a kernelspec's argv is ``<python> -m alphabook.sandbox.kernel_launcher --profile …``."""
    return len(argv) >= 4 and argv[1:3] == ["-m", LAUNCHER_MODULE] and "--profile" in argv


def install_kernelspecs(prefix: Path | None = None, python: Path | None = None) -> list[Path]:
    """Install every kernelspec under ``kernels/`` into ``<prefix>/share/jupyter/kernels``.

    The checked-in ``kernel.json`` says ``python``; the installed copy names this venv's interpreter
    (not resolved: the venv's ``pyvenv.cfg`` is what makes it the venv), because kernels must not
    depend on PATH and the venv's location differs per checkout. ipykernel's logos are copied in.
    Running it again replaces the previous installation.
    """
    prefix = prefix or Path(sys.prefix)
    python = python or Path(sys.executable)
    manager = KernelSpecManager()
    installed = []
    for source in sorted(path.parent for path in KERNELSPEC_SOURCES.glob("*/kernel.json")):
        with tempfile.TemporaryDirectory() as staging_root:
            staging = Path(staging_root) / source.name
            shutil.copytree(source, staging)
            _copy_logos(staging)
            spec: dict[str, Any] = json.loads((staging / "kernel.json").read_text())
            spec["argv"] = [str(python), *spec["argv"][1:]]
            (staging / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
            destination = Path(manager.install_kernel_spec(str(staging), source.name, prefix=str(prefix)))
        _open_to_everyone(destination)
        installed.append(destination)
    return installed


def _copy_logos(folder: Path) -> None:
    try:
        from ipykernel.kernelspec import RESOURCES
    except ImportError:
        return
    for logo in Path(RESOURCES).glob("logo-*"):
        if not (folder / logo.name).exists():
            shutil.copyfile(logo, folder / logo.name)


def _open_to_everyone(folder: Path) -> None:
    """User servers run as other Unix users: the copied staging folder was private (mkdtemp's 0700)."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o755 if path.is_dir() else 0o644)
