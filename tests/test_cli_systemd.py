"""``transports serve --systemd``: the socket from activation, READY=1 and STOPPING=1 to the manager (:apue:`16.4`).

The sockets are put in place by the exec launcher of ``test_activation``;
the same command under the real ``systemd-socket-activate`` is in
``test_activation_systemd``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from conftest import TIMEOUT
from test_activation import LAUNCHER
from transports.cli import EXIT_FAILURE, EXIT_USAGE, main

CLI = "import sys\nfrom transports.cli import main\nraise SystemExit(main(sys.argv[1:]))"


@pytest.fixture
def manager(tmp_sock_dir: Path) -> Iterator[socket.socket]:
    """The service manager's notification socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_sock_dir / "notify.sock"))
        sock.settimeout(TIMEOUT)
        yield sock


def serve(
    socks: Sequence[socket.socket], names: str, notify: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``transports serve ARGS`` activated with *socks* at 3, 4, ... named *names*, NOTIFY_SOCKET=*notify*."""
    fds = [s.fileno() for s in socks]
    env = {"LISTEN_FDNAMES": names, "NOTIFY_SOCKET": notify}
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, json.dumps(fds), CLI, json.dumps(env), "serve", *args],
        pass_fds=fds,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 4,
        check=False,
    )


def test_serve_systemd_by_name_answers_and_notifies(manager: socket.socket, tmp_sock_dir: Path) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as web,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client,
    ):
        other.bind(("127.0.0.1", 0))
        web.bind(("127.0.0.1", 0))
        web.listen(8)
        port = web.getsockname()[1]
        client.settimeout(TIMEOUT)
        client.connect(("127.0.0.1", port))
        client.sendall(b"hello")
        client.shutdown(socket.SHUT_WR)
        done = serve(
            [other, web],
            "other:web",
            str(tmp_sock_dir / "notify.sock"),
            "--systemd",
            "web",
            "--echo",
            "--once",
        )
        assert done.returncode == 0, done.stderr
        assert client.recv(100) == b"hello"
    assert done.stderr.splitlines()[0] == f"listening on tcp://127.0.0.1:{port}"
    assert manager.recv(100) == b"READY=1"
    assert manager.recv(100) == b"STOPPING=1"


def test_serve_systemd_takes_the_first_socket_datagrams_too(
    manager: socket.socket, tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "log.sock"
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as log,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client,
    ):
        log.bind(str(path))
        client.bind(str(tmp_sock_dir / "client.sock"))
        client.settimeout(TIMEOUT)
        client.sendto(b"one", str(path))
        unbound = "@unbound-" + path.parent.name
        done = serve([log], "log", unbound, "--systemd", "--echo", "--once")
        # NOTIFY_SOCKET names an abstract socket nobody bound: READY=1 fails, in one line, nothing served.
        assert done.returncode == EXIT_FAILURE
        assert done.stderr.splitlines()[-1] == (
            "transports serve: could not tell the service manager READY=1 at NOTIFY_SOCKET: connect to "
            f"unixgram://{unbound}: connection refused (ECONNREFUSED); is a server listening there?; "
            "is the variable stale?"
        )
        done = serve([log], "log", str(tmp_sock_dir / "notify.sock"), "--systemd", "--echo", "--once")
        assert done.returncode == 0, done.stderr
        assert client.recv(100) == b"one"
    assert done.stderr.splitlines()[0] == f"listening on unixgram://{path}"
    assert manager.recv(100) == b"READY=1"
    assert manager.recv(100) == b"STOPPING=1"


def test_serve_systemd_names_what_is_missing(manager: socket.socket, tmp_sock_dir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dns:
        dns.bind(("127.0.0.1", 0))
        done = serve([dns], "dns", str(tmp_sock_dir / "notify.sock"), "--systemd", "web", "--echo")
    assert done.returncode == EXIT_FAILURE
    assert done.stderr.strip() == (
        "transports serve: systemd://web: no descriptor named 'web'; passed: fd 3 'dns'; "
        "name sockets with FileDescriptorName= (or --fdname)"
    )
    manager.setblocking(False)
    with pytest.raises(BlockingIOError):
        manager.recv(100)  # never ready, so never told


def test_serve_systemd_with_nothing_passed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--systemd", "--echo"]) == EXIT_FAILURE
    assert "serve --systemd: no socket was passed" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args", [["--echo"], ["tcp://127.0.0.1:0", "--systemd", "--echo"]], ids=["neither", "both"]
)
def test_serve_needs_a_url_or_systemd(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *args]) == EXIT_USAGE
    assert "give a URL to listen on, or --systemd" in capsys.readouterr().err
