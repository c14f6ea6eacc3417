"""The bubblewrap command line that isolates a sandbox worker, and the check that it works on this machine.

bubblewrap (``bwrap``) does the isolation with Linux namespaces: the worker sees a root made of read-only
binds of exactly what Python needs (the interpreter, its standard library, the shared libraries, the
venv, the alphabook package), a private empty read-only ``/tmp``, its own ``/dev`` and ``/proc``, no
network device but loopback, fresh PID/IPC/UTS/cgroup namespaces, no capabilities, no way to create
further user namespaces, and an environment holding only the variables listed in :data:`ENVIRONMENT`.

Uids: ``RLIMIT_NPROC`` is ignored for root and counts every process of a uid, so the worker must run as a
real unprivileged uid *outside* the namespace, not just look like one inside. bwrap started by root
keeps mapping the sandbox back to root, so the host starts bwrap already as uid/gid ``61000 + slot``
(``subprocess.Popen(user=, group=, extra_groups=[])``, which calls setgroups/setresgid/setresuid in the
forked child before exec and is safe with threads, unlike a ``preexec_fn``); bwrap then builds an
unprivileged user namespace in which the worker is that same uid. No passwd entry is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import alphabook

__all__ = ["ENVIRONMENT", "SandboxLayout", "bwrap_command", "bwrap_version", "check_bwrap", "find_bwrap", "worker_argv",
           "worker_uid"]

#: The worker's whole environment: no JPY_PARENT_PID, no ALPHABOOK_*, no credentials, one thread per library.
ENVIRONMENT: dict[str, str] = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",  # noqa: S108 (the sandbox's own empty, read-only tmpfs)
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_MAX_THREADS": "1",
    "ARROW_IO_THREADS": "1",
    "OMP_THREAD_LIMIT": "1",
}
UID_BASE = 61000
#: Never visible in a sandbox, whatever the layout computes (a venv inside one of them is refused).
FORBIDDEN = ("/home", "/root", "/etc", "/var", "/srv", "/run", "/work/shared")


def worker_uid(slot: int, base: int = UID_BASE) -> int | None:
    """The unprivileged uid (and gid) of pool slot ``slot``; ``None`` when we are not root (we stay ourselves)."""
    return base + slot if os.geteuid() == 0 else None


@dataclass(frozen=True, slots=True)
class SandboxLayout:
    """What the worker's filesystem holds: host paths bound read-only at the same place, and symlinks."""

    python: str  # the venv's interpreter, as the worker starts it
    package_root: str  # the folder holding the alphabook package (put first on the worker's sys.path)
    ro_binds: tuple[str, ...]
    symlinks: tuple[tuple[str, str], ...]  # (target, link), e.g. ("usr/lib", "/lib") on merged-/usr systems

    @classmethod
    def for_this_interpreter(cls, forbidden: Iterable[str | Path] = ()) -> SandboxLayout:
        """The layout for the running interpreter, from ``sys.prefix``/``sys.base_prefix``, sysconfig and realpaths.

        Raises ValueError when a bind would expose one of :data:`FORBIDDEN` or ``forbidden`` (the alphabook
        home, the database folder): a venv installed as ``/home`` itself, say.
        """
        package = Path(alphabook.__file__).resolve().parent
        wanted = {
            Path(sys.prefix).resolve(),  # the venv: bin/python, pyvenv.cfg, site-packages
            Path(sys.executable).resolve(),  # the real interpreter the venv's bin/python points at
            package,
        }
        for name in ("stdlib", "platstdlib", "purelib", "platlib"):  # /usr/lib/python3.11 (+ lib-dynload)
            wanted.add(Path(sysconfig.get_path(name)).resolve())
        multiarch = sysconfig.get_config_var("MULTIARCH")
        libraries = [f"/usr/lib/{multiarch}", f"/lib/{multiarch}"] if multiarch else ["/usr/lib"]
        for candidate in (*libraries, "/usr/lib64", "/usr/share/zoneinfo", "/etc/ld.so.cache"):
            if Path(candidate).exists():
                wanted.add(Path(candidate).resolve())
        symlinks = []
        for top in ("/lib", "/lib64"):  # the dynamic loader's path; symlinks into /usr on merged-/usr systems
            if Path(top).is_symlink():
                symlinks.append((os.readlink(top), top))
            elif Path(top).is_dir():
                wanted.add(Path(top))
        binds = _outermost(path for path in wanted if path.exists())
        exposed = sorted({str(hidden) for hidden in map(Path, (*FORBIDDEN, *forbidden)) for bind in binds
                          if hidden == bind or hidden.is_relative_to(bind)})
        if exposed:
            raise ValueError(f"the sandbox would have to expose {', '.join(exposed)}; install the venv and the "
                             "checkout outside /home, /root and the alphabook home folder")
        return cls(python=str(Path(sys.prefix) / "bin" / "python"), package_root=str(package.parent),
                   ro_binds=tuple(sorted(map(str, binds))), symlinks=tuple(symlinks))


def _outermost(paths: Iterable[Path]) -> set[Path]:
    """Drop paths already inside another one (binding /usr/lib/python3.11 twice is pointless)."""
    chosen = sorted(set(paths), key=lambda path: len(path.parts))
    kept: set[Path] = set()
    for path in chosen:
        if not any(path.is_relative_to(parent) for parent in kept):
            kept.add(path)
    return kept


def worker_argv(layout: SandboxLayout, control_fd: int, events_fd: int, *, probe: bool = False) -> list[str]:
    """The interpreter command that starts :mod:`alphabook.sandbox.worker` (inside bwrap or, weaker, without).

    ``-s`` skips the user site, ``-P`` keeps the working directory off ``sys.path`` and ``-B`` writes no
    bytecode; the package root goes first on ``sys.path`` explicitly rather than through the environment.
    """
    boot = (f"import sys; sys.path.insert(0, {layout.package_root!r}); "
            "from alphabook.sandbox.worker import main; main(sys.argv[1:])")
    argv = [layout.python, "-s", "-P", "-B", "-c", boot, "--control", str(control_fd), "--events", str(events_fd)]
    return argv + (["--allow-probe"] if probe else [])


def bwrap_command(bwrap: str, layout: SandboxLayout, argv: Sequence[str]) -> list[str]:
    """The full ``bwrap ... -- argv`` command (see the module docstring for what each part is for)."""
    command = [
        bwrap,
        "--unshare-user", "--disable-userns",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "sandbox",
        "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--clearenv",
    ]
    for name, value in ENVIRONMENT.items():
        command += ["--setenv", name, value]
    for path in layout.ro_binds:
        command += ["--ro-bind", path, path]
    for target, link in layout.symlinks:
        command += ["--symlink", target, link]
    command += [
        # a private tmpfs on /tmp, read-only like the rest: nothing a call writes can reach the next call
        "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",  # noqa: S108
        "--remount-ro", "/tmp", "--remount-ro", "/dev", "--remount-ro", "/",  # noqa: S108
        "--chdir", "/tmp",  # noqa: S108
        "--", *argv,
    ]
    return command


def find_bwrap(path: str) -> str | None:
    """The executable ``path`` names (looked up on PATH when it has no slash), or ``None``."""
    found = shutil.which(path)
    return str(Path(found).resolve()) if found else None


def check_bwrap(bwrap: str, layout: SandboxLayout, uid: int | None) -> str | None:
    """``None`` when bwrap can start the interpreter in the full sandbox as ``uid``; else why not, in words."""
    executable = find_bwrap(bwrap)
    if executable is None:
        return f"bubblewrap was not found at {bwrap!r} (install the 'bubblewrap' package: `make` does it)"
    argv = [layout.python, "-s", "-P", "-B", "-c", "import sys; sys.exit(0)"]
    try:
        done = subprocess.run(bwrap_command(executable, layout, argv), capture_output=True, timeout=30, env={},
                              user=uid, group=uid, extra_groups=[] if uid is not None else None, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not be started: {exc}"
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap failed ({message[-1] if message else f'exit {done.returncode}'})"
    return None


def bwrap_version(bwrap: str) -> str | None:
    """``bubblewrap 0.8.0``, or ``None`` when it cannot be run."""
    executable = find_bwrap(bwrap)
    if executable is None:
        return None
    try:
        return subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
