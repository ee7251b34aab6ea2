"""Errors as typed fields (Go's net.OpError): op is a verb of OPS; network, local and remote are addresses."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

import transports
from conftest import TIMEOUT
from transports import (
    ConnectionRefused,
    InetAddress,
    TCPListener,
    TCPTransport,
    TransportClosed,
    TransportError,
    UnixAddress,
    UnixListener,
    UnixStreamTransport,
)
from transports.errors import OPS, op_verb

SRC = Path(transports.__file__).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_connect_names_the_target_as_an_address() -> None:
    port = _free_port()
    with pytest.raises(ConnectionRefused) as info:
        TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT)
    error = info.value
    assert error.op == "connect"
    assert error.network == "tcp"
    assert error.remote == InetAddress("127.0.0.1", port)
    assert error.local is None
    assert f"connect to tcp://127.0.0.1:{port}" in str(error), "the message still reads as English"


def test_a_refused_unix_connect_names_the_path(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "nobody.sock"
    with pytest.raises(TransportError) as info:
        UnixStreamTransport.connect(path, timeout=TIMEOUT)
    assert info.value.op == "connect"
    assert info.value.network == "unix"
    assert info.value.remote == UnixAddress(str(path))


def test_an_error_on_a_connection_carries_both_ends() -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        port = listener.address.port
        with TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as client:
            server = listener.accept()
            server.close()
            client.close()
            with pytest.raises(TransportClosed) as info:
                client.send(b"x")
    error = info.value
    assert error.op == "send"
    assert error.network == "tcp"
    assert error.remote == InetAddress("127.0.0.1", port)


def test_a_receive_woken_by_close_names_the_unix_network() -> None:
    a, b = UnixStreamTransport.pair()
    with a:
        b.close()
        with pytest.raises(TransportClosed) as info:
            b.recv_exactly(4)
    assert info.value.op == "recv_exactly"
    assert info.value.network == "unix"


def test_accept_on_a_closed_listener_names_the_listener(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "closed.sock"
    listener = UnixListener.listen(path)
    listener.close()
    with pytest.raises(TransportClosed) as info:
        listener.accept()
    assert info.value.op == "accept"
    assert info.value.network == "unix"


def test_setting_a_timeout_on_a_closed_transport_is_settimeout() -> None:
    a, b = UnixStreamTransport.pair()
    a.close()
    b.close()
    with pytest.raises(TransportClosed) as info:
        a.timeout = 1
    assert info.value.op == "settimeout"


@pytest.mark.parametrize(
    ("phrase", "verb"),
    [
        ("connect to", "connect"),
        ("accept on", "accept"),
        ("listen on", "listen"),
        ("set timeout on", "settimeout"),
        ("set SO_RCVBUF on", "setsockopt"),
        ("get TCP_NODELAY of", "getsockopt"),
        ("remove stale socket", "bind"),
        ("sendfile headers", "sendfile"),
        ("recv_exactly", "recv_exactly"),
    ],
)
def test_phrases_map_to_verbs(phrase: str, verb: str) -> None:
    assert op_verb(phrase) == verb
    assert verb in OPS


_ERROR_MAKERS = {
    "translate_os_error": 1,
    "_error": 1,
    "_closed_error": 0,
    "_send_error": 1,
    "_transfer_error": 1,
}


def _ops_in_source() -> list[tuple[str, int, str]]:
    """Every literal op given to an error in src/: (file, line, op)."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            position = _ERROR_MAKERS.get(name)
            literals: list[ast.expr] = [kw.value for kw in node.keywords if kw.arg == "op"]
            if position is not None and len(node.args) > position:
                literals.append(node.args[position])
            for literal in literals:
                if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                    found.append((str(path.relative_to(SRC)), node.lineno, literal.value))
    return found


def test_every_op_in_the_source_is_a_known_verb() -> None:
    ops = _ops_in_source()
    assert len(ops) > 50, "the scan found the error constructors"
    strays = [f"{file}:{line}: {op!r}" for file, line, op in ops if op_verb(op) not in OPS]
    assert not strays, "ops that are not verbs of errors.OPS:\n" + "\n".join(strays)
