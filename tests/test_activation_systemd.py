"""Activation under the real ``systemd-socket-activate`` (package ``systemd``), skipped where it is missing (:apue:`16.4`).

The tool binds the socket, waits for the first connection or datagram, then
execs the child with ``LISTEN_PID`` its own pid, as systemd does. The test's
client triggers it and reads the child's answer.
"""

from __future__ import annotations

import contextlib
import selectors
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from conftest import TIMEOUT

ACTIVATE = shutil.which("systemd-socket-activate")
pytestmark = pytest.mark.skipif(
    ACTIVATE is None, reason="systemd-socket-activate is not installed (Debian package 'systemd')"
)


def free_port(kind: socket.SocketKind) -> int:
    """A port nobody uses right now (the tool takes no port 0)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = TIMEOUT) -> list[str]:
    """Read *proc*'s stderr until a line holding *needle*; the lines read so far."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {needle!r} on stderr within {timeout} s: {lines}"
            assert selector.select(left), f"no {needle!r} on stderr within {timeout} s: {lines}"
            line = proc.stderr.readline()
            assert line, f"stderr ended before {needle!r}: {lines}"
            lines.append(line)
            if needle in line:
                return lines


@contextlib.contextmanager
def activated(args: Sequence[str], code: str) -> Iterator[subprocess.Popen[str]]:
    """``systemd-socket-activate ARGS python -c CODE``, stopped and reaped however the block ends."""
    assert ACTIVATE is not None
    program = "import sys\n" + textwrap.dedent(code)
    proc = subprocess.Popen(
        [ACTIVATE, *args, sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(proc, "Listening on")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def test_tcp_listener_from_the_real_tool() -> None:
    port = free_port(socket.SOCK_STREAM)
    code = """
    import transports
    from transports import TCPListener
    acts = transports.activation()
    with acts.adopt("web", TCPListener) as web, web.accept() as conn:
        conn.timeout = 5
        conn.send_all(b"%d " % web.address.port + conn.recv_exactly(4))
    """
    with activated(["-l", f"127.0.0.1:{port}", "--fdname=web"], code) as proc:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
            client.sendall(b"ping")
            assert client.recv(100) == b"%d ping" % port
        assert proc.wait(TIMEOUT) == 0


def test_udp_datagram_socket_from_the_real_tool() -> None:
    port = free_port(socket.SOCK_DGRAM)
    code = """
    import transports
    with transports.bind("systemd://dns", kind="datagram", timeout=5) as dns:
        got = dns.recv_from(100)
        dns.send_to(type(dns).__name__.encode() + b" " + got.data, got.address)
    """
    with activated(["--datagram", "-l", f"127.0.0.1:{port}", "--fdname=dns"], code) as proc:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(TIMEOUT)
            client.sendto(b"ping", ("127.0.0.1", port))
            assert client.recv(100) == b"UDPTransport ping"
        assert proc.wait(TIMEOUT) == 0


def test_cli_serve_systemd_under_the_real_tool(tmp_sock_dir: Path) -> None:
    """``transports serve --systemd`` answers the client, and systemd hears READY=1 and STOPPING=1."""
    path = tmp_sock_dir / "echo.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_sock_dir / "notify.sock"))
        manager.settimeout(TIMEOUT)
        code = "import sys\nfrom transports.cli import main\nraise SystemExit(main(sys.argv[1:]))"
        args = ["-l", str(path), "--fdname=echo", "-E", f"NOTIFY_SOCKET={tmp_sock_dir / 'notify.sock'}"]
        assert ACTIVATE is not None
        proc = subprocess.Popen(
            [ACTIVATE, *args, sys.executable, "-c", code, "serve", "--systemd", "echo", "--echo", "--once"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_line(proc, "Listening on")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(TIMEOUT)
                client.connect(str(path))
                client.sendall(b"hello")
                client.shutdown(socket.SHUT_WR)
                assert client.recv(100) == b"hello"
                assert manager.recv(100) == b"READY=1"
            assert wait_for_line(proc, "listening on")[-1].strip() == f"listening on unix://{path}"
            assert proc.wait(TIMEOUT) == 0
            assert manager.recv(100) == b"STOPPING=1"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=TIMEOUT)
