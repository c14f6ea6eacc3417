"""Start a Jupyter kernel inside bubblewrap: the ``argv`` of the alphabook kernelspecs (issue #4).

``python -m alphabook.sandbox.kernel_launcher --profile sandbox|research -f {connection_file}`` sets the
resource limits, builds the bwrap command and execs it, so the process Jupyter started *is* bwrap and
``--die-with-parent`` ties the kernel's life to the server that launched it.

Two profiles:

* ``sandbox`` — code the person did not write (Voila previews, notebooks they do not trust): no network,
  no home folders, read-only system and venv, a private ``/tmp``, an environment with only what the
  kernel needs, and an unprivileged uid (``nobody``) when started by root.
* ``research`` — the person's own work: the whole filesystem read-only except their home, network on.

Why the connection handling looks the way it does. A kernel in its own network namespace has its own
loopback, so it can only be reached over ``transport="ipc"``: its sockets are files next to the
connection file. Binding that directory in would hand untrusted code the other kernels' connection
files (their keys and sockets) and the server's ``jpserver-*.json`` (its token). So a sandbox kernel
gets a private directory instead, mounted where it expects its sockets, holding a copy of its own
connection file; the host-side socket paths are symlinks into it, which is all ZMQ's ``connect`` needs.
It sits next to the connection file (``.kernel-<id>.sandbox``) and the next sandbox start in that folder
removes the ones whose connection file is gone. When root starts the kernel as ``nobody``, the
unprivileged bwrap could not reach root's runtime folder, so the private folder is made in the temp
folder instead and ``.kernel-<id>.sandbox`` is a symlink to it.

Root is special twice over: bwrap run by root keeps every capability unless told otherwise, and a user
namespace maps the sandbox's uid back to root outside (it could read ``/etc/shadow``). The sandbox
profile therefore drops to a real unprivileged uid *before* running bwrap; the research profile, which
is the caller's own work, stays the caller but drops every capability.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import resource
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NoReturn

Profile = Literal["sandbox", "research"]
PROFILES: tuple[Profile, ...] = ("sandbox", "research")
GiB = 1 << 30
MiB = 1 << 20
PRIVATE_DIR_PREFIX = "alphabook-kernel-"
PRIVATE_LINK_SUFFIX = ".sandbox"
#: Top-level names that Debian and most distributions make symlinks into /usr (merged /usr).
USR_ALIASES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Variables the sandbox keeps from the caller (everything else, tokens included, stays outside).
SANDBOX_PASSTHROUGH_ENV = ("TZ",)
#: Inside the sandbox /tmp is a private tmpfs, which also hides whatever the host keeps under /tmp.
TMP = "/tmp"  # noqa: S108


class LaunchError(Exception):
    """The kernel cannot be started as asked; the message tells the operator what to change."""


@dataclass(frozen=True, slots=True)
class KernelLimits:
    """OS resource limits set before bwrap starts; ``None`` keeps the inherited value.

    ``processes`` is RLIMIT_NPROC, which counts every process *and thread* of the uid (the person's
    server and terminals too) and is ignored for root, so it is a fork-bomb guard, not a quota.
    """

    address_space_bytes: int | None
    cpu_seconds: int | None
    processes: int | None
    file_size_bytes: int | None
    tmp_bytes: int

    def apply(self) -> None:
        """Lower the soft and hard limits of this process (bwrap and the kernel inherit them)."""
        _lower(resource.RLIMIT_CORE, 0)
        for kind, value in (
            (resource.RLIMIT_AS, self.address_space_bytes),
            (resource.RLIMIT_CPU, self.cpu_seconds),
            (resource.RLIMIT_NPROC, self.processes),
            (resource.RLIMIT_FSIZE, self.file_size_bytes),
        ):
            if value is not None:
                _lower(kind, value)


PROFILE_LIMITS: dict[Profile, KernelLimits] = {
    # A preview or an untrusted notebook: enough for pandas on a few years of minute bars, not for a siege.
    "sandbox": KernelLimits(address_space_bytes=8 * GiB, cpu_seconds=1800, processes=1024,
                            file_size_bytes=1 * GiB, tmp_bytes=512 * MiB),
    # The person's own research: no CPU cap (optimisations run for hours; the idle culler handles the rest).
    "research": KernelLimits(address_space_bytes=32 * GiB, cpu_seconds=None, processes=4096,
                             file_size_bytes=None, tmp_bytes=4 * GiB),
}


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What the launcher needs from the connection file Jupyter wrote."""

    transport: str
    ip: str
    ports: tuple[int, ...]

    @classmethod
    def read(cls, path: Path) -> ConnectionInfo:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise LaunchError(f"cannot read the connection file {path}: {exc}") from exc
        ports = tuple(int(data[key]) for key in sorted(data) if key.endswith("_port"))
        return cls(transport=str(data.get("transport", "tcp")), ip=str(data.get("ip", "")), ports=ports)

    def socket_paths(self) -> list[Path]:
        """The ipc socket files the kernel will create (``<ip>-<port>``, as jupyter_client names them)."""
        return [Path(f"{self.ip}-{port}") for port in self.ports]


@dataclass(frozen=True, slots=True)
class KernelLaunch:
    """Everything that decides the bwrap command; built from the real process by :func:`plan`."""

    profile: Profile
    python: str  # the venv's interpreter, not resolved: its pyvenv.cfg makes it the venv
    connection_file: Path  # host path Jupyter wrote
    socket_dir: Path  # where the kernel creates its ipc sockets (the connection file's folder, usually)
    read_only_paths: tuple[Path, ...]  # the venv, the base Python and what sys.path needs from them
    home: Path  # research: bound read-write; sandbox: ignored (HOME is the private /tmp)
    workdir: Path
    as_root: bool
    limits: KernelLimits
    private_dir: Path | None = None  # sandbox: the host folder mounted on socket_dir


def bwrap_args(launch: KernelLaunch, bwrap: str = "bwrap") -> list[str]:
    """The full command line, bwrap first; pure, so tests and ``--dry-run`` see exactly what runs."""
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-all"]
    if launch.profile == "research":
        args.append("--share-net")
    # An explicit user namespace lets us forbid nested ones (their capabilities are kernel attack surface).
    args += ["--unshare-user", "--disable-userns"]
    if launch.as_root and launch.profile == "research":
        args += ["--cap-drop", "ALL"]  # root's bwrap keeps every capability unless told (the sandbox is not root)
    if launch.profile == "sandbox":
        args += ["--ro-bind", "/usr", "/usr", *_usr_aliases(), "--ro-bind", "/etc", "/etc"]
    else:
        args += ["--ro-bind", "/", "/"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(launch.limits.tmp_bytes), "--tmpfs", TMP]
    # After the tmpfs: a checkout or venv under /tmp would otherwise be hidden by it.
    for path in _outermost(launch.read_only_paths):
        hidden = _is_under(path, TMP) if launch.profile == "research" else not _is_under(path, "/usr")
        if hidden:
            args += ["--ro-bind", str(path), str(path)]
    if launch.profile == "sandbox":
        if launch.private_dir is None:
            raise LaunchError("a sandbox kernel needs its private socket folder")
        args += ["--bind", str(launch.private_dir), str(launch.socket_dir), "--chdir", TMP]
        connection_file = launch.socket_dir / launch.connection_file.name
    else:
        writable = [launch.connection_file.parent, launch.socket_dir]
        if launch.home.is_dir():
            writable.append(launch.home)
        for path in _outermost(writable):
            args += ["--bind", str(path), str(path)]
        args += ["--chdir", str(launch.workdir)]
        connection_file = launch.connection_file
    return [*args, launch.python, "-m", "ipykernel_launcher", "-f", str(connection_file)]


def kernel_environment(launch: KernelLaunch, caller: Mapping[str, str]) -> dict[str, str]:
    """The environment bwrap and the kernel get (through execve, so no secret shows in ``ps``).

    The sandbox gets a fresh one: the caller's holds the person's hub token. JPY_PARENT_PID goes in
    both cases: it names a pid outside the kernel's pid namespace, so ipykernel would think its parent died.
    """
    if launch.profile == "sandbox":
        env = {"PATH": f"{Path(launch.python).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": TMP,
               "TMPDIR": TMP, "LANG": "C.UTF-8"}
        env |= {key: caller[key] for key in SANDBOX_PASSTHROUGH_ENV if key in caller}
        return env
    env = {key: value for key, value in caller.items() if key != "JPY_PARENT_PID"}
    env |= {"HOME": str(launch.home), "TMPDIR": TMP}
    return env


def plan(profile: Profile, connection_file: Path, limits: KernelLimits | None = None) -> KernelLaunch:
    """Describe the launch for this process: its Python, its connection file, its user and folders."""
    connection_file = Path(os.path.abspath(connection_file))
    info = ConnectionInfo.read(connection_file)
    if profile == "sandbox" and info.transport != "ipc":
        raise LaunchError(
            "the sandbox kernel has no network, so it cannot be reached over TCP: start it with "
            "transport='ipc' (jupyter server --KernelManager.transport=ipc, or KernelManager(transport='ipc'))"
        )
    if info.transport == "ipc" and not os.path.isabs(info.ip):
        raise LaunchError(
            f"the ipc socket path {info.ip!r} is relative: give the kernel manager a connection_file "
            "(alphabook.sandbox.kernelspecs.IpcKernelManager does) so the sockets sit next to it"
        )
    socket_dir = Path(info.ip).parent if info.transport == "ipc" else connection_file.parent
    home = Path(os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir)
    cwd = Path.cwd()
    if cwd.is_dir() and (not _is_under(cwd, TMP) or _is_under(cwd, home)):
        workdir = cwd
    else:
        workdir = home if home.is_dir() else Path("/")
    return KernelLaunch(
        profile=profile,
        python=sys.executable,
        connection_file=connection_file,
        socket_dir=socket_dir,
        read_only_paths=tuple(_python_paths()),
        home=home,
        workdir=workdir,
        as_root=os.geteuid() == 0,
        limits=limits or PROFILE_LIMITS[profile],
    )


def prepare_private_dir(launch: KernelLaunch, owner: tuple[int, int] | None) -> KernelLaunch:
    """Give a sandbox kernel its own socket folder holding a copy of its connection file (see module doc).

    Host-side, each ``<ip>-<port>`` becomes a symlink into that folder; jupyter_client removes the
    symlinks when the kernel stops, and :func:`collect_stale_private_dirs` the folder once the
    connection file is gone. ``owner`` is the uid/gid root runs the kernel as (None: the caller).
    """
    folder = launch.connection_file.parent
    collect_stale_private_dirs(folder)
    record = folder / f".{launch.connection_file.stem}{PRIVATE_LINK_SUFFIX}"
    _remove_private_dir(record)  # a restart reuses the connection file
    if owner is None:
        private = record
        private.mkdir(mode=0o700)
    else:
        private = Path(tempfile.mkdtemp(prefix=PRIVATE_DIR_PREFIX))
        record.symlink_to(private)
    copy = private / launch.connection_file.name
    shutil.copyfile(launch.connection_file, copy)
    copy.chmod(0o600)
    for socket in ConnectionInfo.read(launch.connection_file).socket_paths():
        if socket.is_symlink() or socket.exists():
            socket.unlink()
        socket.symlink_to(private / socket.name)
    if owner is not None:
        for path in (private, copy):
            os.chown(path, *owner)
    return replace(launch, private_dir=private)


def collect_stale_private_dirs(folder: Path) -> None:
    """Remove private socket folders whose kernel has stopped (its connection file was deleted)."""
    for record in folder.glob(f".*{PRIVATE_LINK_SUFFIX}"):
        stem = record.name[1 : -len(PRIVATE_LINK_SUFFIX)]
        if not (folder / f"{stem}.json").exists():
            _remove_private_dir(record)


def sandbox_user(name: str) -> tuple[int, int]:
    """The uid and gid a root-started sandbox kernel runs as."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise LaunchError(f"the sandbox user {name!r} does not exist (choose one with --sandbox-user)") from exc
    if entry.pw_uid == 0:
        raise LaunchError(f"the sandbox user {name!r} is root")
    return entry.pw_uid, entry.pw_gid


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` for good (real, effective and saved), with no supplementary groups."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="python -m alphabook.sandbox.kernel_launcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, required=True)
    parser.add_argument("-f", "--connection-file", dest="connection_file", type=Path, required=True)
    parser.add_argument("--sandbox-user", default="nobody",
                        help="Unix user a sandbox kernel runs as when the launcher is root (default: nobody).")
    parser.add_argument("--dry-run", action="store_true", help="Print the bwrap command and exit.")
    options = parser.parse_args(argv)
    profile: Profile = options.profile
    try:
        launch = plan(profile, options.connection_file)
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise LaunchError("bubblewrap is not installed (Debian: apt-get install bubblewrap)")
        owner = sandbox_user(options.sandbox_user) if profile == "sandbox" and launch.as_root else None
        if options.dry_run:
            if profile == "sandbox":
                record = launch.connection_file.parent / f".{launch.connection_file.stem}{PRIVATE_LINK_SUFFIX}"
                placeholder = Path(tempfile.gettempdir()) / f"{PRIVATE_DIR_PREFIX}XXXXXXXX"
                launch = replace(launch, private_dir=placeholder if owner else record)
            print(shlex.join(bwrap_args(launch, bwrap)))
            raise SystemExit(0)
        if profile == "sandbox":
            launch = prepare_private_dir(launch, owner)
        env = kernel_environment(launch, os.environ)
        args = bwrap_args(launch, bwrap)
        launch.limits.apply()
        if owner is not None:
            drop_privileges(*owner)
        os.execve(bwrap, args, env)
    except (LaunchError, OSError) as exc:
        print(f"alphabook kernel launcher ({profile}): {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc


def _lower(kind: int, value: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (limit, limit))


def _usr_aliases() -> list[str]:
    """Recreate /bin, /lib… as on the host: symlinks into /usr stay symlinks, real folders are bound."""
    args: list[str] = []
    for alias in USR_ALIASES:
        if os.path.islink(alias):
            args += ["--symlink", os.readlink(alias), alias]
        elif os.path.isdir(alias):
            args += ["--ro-bind", alias, alias]
    return args


def _python_paths() -> list[Path]:
    """The venv, the Python it was made from, and sys.path entries outside them (an editable checkout).

    Left out: PYTHONPATH (the sandbox does not pass it on; research sees it anyway) and the working
    directory, which ``python -m`` puts first on sys.path and which may well be /tmp or a home folder.
    """
    skipped = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    skipped |= {os.getcwd(), "/", TMP}
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, *sys.path]
    paths = {os.path.abspath(p) for p in candidates if p}
    return [Path(p) for p in sorted(paths - skipped) if os.path.exists(p)]


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """Sorted paths without those inside another one (binding both would be redundant)."""
    kept: list[Path] = []
    for path in sorted(set(paths)):
        if not any(_is_under(path, outer) for outer in kept):
            kept.append(path)
    return kept


def _is_under(path: Path | str, root: Path | str) -> bool:
    return Path(path).is_relative_to(root)


def _remove_private_dir(record: Path) -> None:
    """Remove a private socket folder: ``record`` itself, or (root's case) the temp folder it links to."""
    if record.is_symlink():
        target = Path(os.readlink(record))
        if target.name.startswith(PRIVATE_DIR_PREFIX) and target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        record.unlink(missing_ok=True)
    elif record.is_dir():
        shutil.rmtree(record, ignore_errors=True)


if __name__ == "__main__":
    main()
