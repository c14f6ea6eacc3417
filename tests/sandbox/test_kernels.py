"""The two kernelspecs, started through jupyter_client exactly as a server starts them (transport ipc).

The sandbox kernel must run code (pandas included) yet reach no network, no home folder and none of the
caller's secrets, and stay interruptible; the research kernel must reach the person's home and the
network while everything else stays read-only. Run as root (CI), the sandbox kernel is ``nobody``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from alphabook.sandbox import kernel_launcher
from alphabook.sandbox.kernel_launcher import PRIVATE_DIR_PREFIX, KernelLaunch, bwrap_args, collect_stale_private_dirs
from alphabook.sandbox.kernelspecs import (
    ALLOWED_KERNELS,
    RESEARCH_KERNEL,
    SANDBOX_KERNEL,
    IpcKernelManager,
    runs_launcher,
)

SECRET_ENV = "JUPYTERHUB_API_TOKEN"


@dataclass
class Cell:
    text: str
    error: str | None


@dataclass
class RunningKernel:
    manager: KernelManager
    client: BlockingKernelClient
    connection_dir: Path

    def run(self, code: str, timeout: float = 60) -> Cell:
        """Execute ``code`` and wait for ``status: idle`` (outputs can arrive after the reply)."""
        msg_id = self.client.execute(code)
        parts: list[str] = []
        error = None
        deadline = time.monotonic() + timeout
        while True:
            message = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                parts.append(content["text"])
            elif kind in {"execute_result", "display_data"}:
                parts.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                return Cell("".join(parts).strip(), error)


@contextmanager
def running_kernel(name: str, env: dict[str, str] | None = None) -> Iterator[RunningKernel]:
    # A short folder: ipc socket paths must fit in 107 bytes.
    connection_dir = Path(tempfile.mkdtemp(prefix="abk-"))
    manager = KernelManager(kernel_name=name, transport="ipc",
                            connection_file=str(connection_dir / f"kernel-{uuid.uuid4()}.json"))
    manager.start_kernel(env={**os.environ, **(env or {})})
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield RunningKernel(manager, client, connection_dir)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        collect_stale_private_dirs(connection_dir)
        subprocess.run(["rm", "-rf", str(connection_dir)], check=False)


@contextmanager
def host_server() -> Iterator[int]:
    """A TCP server on the host's 127.0.0.1 that answers every connection with a greeting."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"hello from the host")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def connect_code(port: int) -> str:
    return (f"import socket\ntry:\n    print(socket.create_connection(('127.0.0.1', {port}), timeout=5).recv(100))\n"
            "except OSError as exc:\n    print(type(exc).__name__)")


@pytest.mark.parametrize("name", sorted(ALLOWED_KERNELS))
def test_kernelspec_is_installed_in_the_venv(name: str) -> None:
    spec = KernelSpecManager().get_kernel_spec(name)
    assert Path(spec.resource_dir) == Path(sys.prefix) / "share" / "jupyter" / "kernels" / name, (
        "run `alphabook kernels install` (make test does it)")
    assert spec.argv[0] == sys.executable and runs_launcher(spec.argv)
    assert spec.argv[-2:] == ["-f", "{connection_file}"]
    assert spec.interrupt_mode == "message"  # a signal would hit bwrap, not the kernel


@pytest.mark.parametrize("name", sorted(ALLOWED_KERNELS))
def test_kernel_runs_cells_with_the_research_stack(name: str) -> None:
    with running_kernel(name) as kernel:
        assert kernel.run("1+1") == Cell("2", None)
        assert kernel.run("import pandas, numpy; print(pandas.Series(numpy.arange(4)).sum())") == Cell("6", None)


def test_sandbox_has_no_network() -> None:
    with host_server() as port, running_kernel(SANDBOX_KERNEL) as kernel:
        assert kernel.run(connect_code(port)).text in {"ConnectionRefusedError", "OSError"}
        assert kernel.run("import socket\ntry:\n    socket.getaddrinfo('example.com', 443)\n"
                          "except socket.gaierror:\n    print('no name resolution')").text == "no name resolution"
        assert kernel.run("print([name for _, name in socket.if_nameindex()])").text == "['lo']"


def test_sandbox_sees_no_home_no_secrets_and_no_other_connection_files() -> None:
    with running_kernel(SANDBOX_KERNEL, env={SECRET_ENV: "hub-token-of-the-person"}) as kernel:
        (kernel.connection_dir / "jpserver-1.json").write_text('{"token": "server-token"}')
        for home in ("/root", "/home", str(Path.home())):
            cell = kernel.run(f"import os\ntry:\n    print(sorted(os.listdir({home!r})))\n"
                              "except OSError as exc:\n    print(type(exc).__name__)")
            assert cell.text in {"FileNotFoundError", "PermissionError"}, (home, cell)
        assert kernel.run(f"print(os.environ.get({SECRET_ENV!r}), 'JPY_PARENT_PID' in os.environ)").text == "None False"
        # Its connection folder holds only its own connection file and sockets.
        listed = kernel.run(f"print(sorted(os.listdir({str(kernel.connection_dir)!r})))").text
        assert "jpserver" not in listed and listed.count(".json") == 1, listed
        written = kernel.run(f"open({sys.prefix + '/pyvenv.cfg'!r}, 'a')").error or ""
        assert written.startswith(("OSError: [Errno 30]", "PermissionError")), written
        if os.geteuid() == 0:
            assert kernel.run("print(os.getuid(), os.getgid())").text == "65534 65534"
            assert (kernel.run("open('/etc/shadow').read()").error or "").startswith("PermissionError")


def test_research_kernel_has_home_and_network_and_nothing_else_writable() -> None:
    home = Path(tempfile.mkdtemp(prefix="abk-home-"))
    shared = Path(tempfile.mkdtemp(prefix="abk-", dir="/var/tmp"))
    (home / "notes.txt").write_text("my idea")
    try:
        with host_server() as port, running_kernel(RESEARCH_KERNEL, env={"HOME": str(home)}) as kernel:
            assert kernel.run("import os; print(open(os.path.expanduser('~/notes.txt')).read())").text == "my idea"
            assert kernel.run("open(os.path.expanduser('~/result.txt'), 'w').write('saved')").error is None
            assert kernel.run(connect_code(port)).text == "b'hello from the host'"
            cell = kernel.run(f"open({str(shared / 'x.txt')!r}, 'w')")
            assert cell.error is not None and cell.error.startswith("OSError: [Errno 30] Read-only file system"), cell
        assert (home / "result.txt").read_text() == "saved"
        assert not (shared / "x.txt").exists()
    finally:
        subprocess.run(["rm", "-rf", str(home), str(shared)], check=False)


def test_sandbox_kernel_is_interrupted_by_message() -> None:
    with running_kernel(SANDBOX_KERNEL) as kernel:
        msg_id = kernel.client.execute("while True: pass")
        while kernel.client.get_iopub_msg(timeout=30)["content"].get("execution_state") != "busy":
            pass
        time.sleep(0.5)
        kernel.manager.interrupt_kernel()
        reply = kernel.client.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        assert kernel.manager.is_alive()
        assert kernel.run("1+1") == Cell("2", None)


def test_notebook_runners_reach_the_sandbox_with_the_ipc_kernel_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    """What papermill (``kernel_manager_class=``) and Voila do: nbclient makes, starts and stops the kernel."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1+1")])
    with tempfile.TemporaryDirectory(prefix="abk-") as runtime:
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", runtime)
        NotebookClient(notebook, kernel_name=SANDBOX_KERNEL, kernel_manager_class=IpcKernelManager,
                       timeout=60).execute()
        assert not list(Path(runtime).glob("kernel-*.json"))  # stopped
        collect_stale_private_dirs(Path(runtime))
    assert notebook.cells[0].outputs[0]["data"]["text/plain"] == "2"


def test_sandbox_refuses_tcp_with_a_clear_message(tmp_path: Path) -> None:
    connection_file = tmp_path / "kernel-tcp.json"
    connection_file.write_text('{"transport": "tcp", "ip": "127.0.0.1", "shell_port": 5000}')
    result = subprocess.run([sys.executable, "-m", "alphabook.sandbox.kernel_launcher", "--profile", "sandbox",
                             "-f", str(connection_file)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "transport='ipc'" in result.stderr


@pytest.mark.parametrize("profile", ["sandbox", "research"])
def test_python_paths_under_tmp_are_bound_after_the_private_tmp(profile: kernel_launcher.Profile) -> None:
    checkout = Path("/tmp/checkout")
    launch = KernelLaunch(
        profile=profile, python=str(checkout / ".venv/bin/python"), connection_file=Path("/run/k/kernel-1.json"),
        socket_dir=Path("/run/k"), read_only_paths=(checkout / ".venv", checkout / "backend", Path("/usr/lib")),
        home=Path("/nonexistent-home"), workdir=Path("/"), as_root=False,
        limits=kernel_launcher.PROFILE_LIMITS[profile], private_dir=Path("/tmp/alphabook-kernel-1"),
    )
    args = bwrap_args(launch)
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs + 1] == "/tmp"
    for path in (checkout / ".venv", checkout / "backend"):
        position = args.index(str(path))
        assert args[position - 1] == "--ro-bind" and position > tmpfs
    assert ("--share-net" in args) == (profile == "research")  # --unshare-all includes the network
    assert {"--die-with-parent", "--unshare-all", "--disable-userns"} <= set(args)


def test_stale_private_socket_folders_are_collected(tmp_path: Path) -> None:
    stale = Path(tempfile.mkdtemp(prefix=PRIVATE_DIR_PREFIX))  # root's case: a temp folder, linked
    live = Path(tempfile.mkdtemp(prefix=PRIVATE_DIR_PREFIX))
    (tmp_path / ".kernel-old.sandbox").symlink_to(stale)
    (tmp_path / ".kernel-live.sandbox").symlink_to(live)
    (tmp_path / ".kernel-gone.sandbox").mkdir()  # everyone else's: the folder itself
    (tmp_path / ".kernel-running.sandbox").mkdir()
    for name in ("live", "running"):
        (tmp_path / f"kernel-{name}.json").write_text("{}")
    collect_stale_private_dirs(tmp_path)
    assert not stale.exists() and not (tmp_path / ".kernel-old.sandbox").is_symlink()
    assert not (tmp_path / ".kernel-gone.sandbox").exists()
    assert live.exists() and (tmp_path / ".kernel-running.sandbox").is_dir()
    live.rmdir()
