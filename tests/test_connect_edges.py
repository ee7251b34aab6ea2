"""Edges of connecting and adopting sockets (issue 13, the smaller defects), on the sync face.

* ``timeout=0`` on a connect never waits, on every kind: when the connect
  cannot complete at once (a TCP handshake always; a Unix connect to a full
  queue) it raises :class:`WouldBlock` with a hint, and leaves no socket;
  where nothing needs waiting (UDP, Unix datagrams, a Unix listener with room)
  the transport is made, non-blocking.
* Port 0 is no destination: connecting to it (TCP, UDP; typed constructors
  and URLs) is an :class:`AddressError` before any lookup or socket, while
  binding and listening to port 0 still pick a free port. ``tcp://h:-1`` is
  "out of range", like ``InetAddress(h, -1)``.
* ``from_socket`` refuses a closed socket on every kind, and an unconnected
  or listening one where the kind needs a connection (TCP, Unix stream and
  seqpacket), leaving it open and the caller's.

The async twins are in ``test_aio_connect_edges.py``. Real sockets on
loopback and in a short /tmp directory; every blocking call has a timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import transports
from conftest import TIMEOUT, assert_no_fd_leak, needs_ipv6
from transports import (
    AddressError,
    InetAddress,
    TCPListener,
    TCPTransport,
    Transport,
    UDPTransport,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    WouldBlock,
)

HOSTS = [pytest.param("127.0.0.1", id="ipv4"), pytest.param("::1", id="ipv6", marks=needs_ipv6)]


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{InetAddress(host, port)}"


@contextlib.contextmanager
def full_queue(path: Path, sock_type: int) -> Iterator[None]:
    """Fill the accept queue of the Unix listener at *path* with connections nobody accepts."""
    waiting: list[socket.socket] = []
    try:
        while True:
            sock = socket.socket(socket.AF_UNIX, sock_type)
            sock.setblocking(False)
            try:
                sock.connect(os.fspath(path))
            except BlockingIOError:
                sock.close()
                break
            except BaseException:
                sock.close()
                raise
            waiting.append(sock)
            assert len(waiting) < 1000, "the listener's queue never filled"
        yield
    finally:
        for sock in waiting:
            sock.close()


# -- timeout=0: never waits; WouldBlock when the connect cannot complete at once -------------


def _assert_connect_would_block(info: pytest.ExceptionInfo[WouldBlock], url: str) -> None:
    error = info.value
    assert isinstance(error, BlockingIOError)  # the built-in a non-blocking caller catches
    assert error.op == "connect"
    assert error.address == url
    text = str(error)
    assert url in text
    assert "timeout=0 never waits" in text


@pytest.mark.parametrize("host", HOSTS)
def test_tcp_connect_with_timeout_zero_raises_would_block(host: str) -> None:
    with TCPListener.listen(host, 0, timeout=TIMEOUT) as listener:
        port = listener.address.port
        with assert_no_fd_leak(), pytest.raises(WouldBlock) as info:
            TCPTransport.connect(host, port, timeout=0)
    _assert_connect_would_block(info, _url("tcp", host, port))
    assert "handshake" in str(info.value)
    assert "transport.timeout = 0" in str(info.value)  # how to get what was meant


@pytest.mark.parametrize("scheme", ["tcp", "tcp4"])
def test_tcp_url_connect_with_timeout_zero_raises_would_block(scheme: str) -> None:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        port = listener.address.port
        with assert_no_fd_leak(), pytest.raises(WouldBlock) as info:
            transports.connect(_url(scheme, "127.0.0.1", port), timeout=0)
    _assert_connect_would_block(info, _url("tcp", "127.0.0.1", port))


@needs_ipv6
def test_tcp6_url_connect_with_timeout_zero_raises_would_block() -> None:
    with TCPListener.listen("::1", 0, timeout=TIMEOUT) as listener:
        port = listener.address.port
        with assert_no_fd_leak(), pytest.raises(WouldBlock) as info:
            transports.connect(_url("tcp6", "::1", port), timeout=0)
    _assert_connect_would_block(info, _url("tcp", "::1", port))


UNIX_CONNECTS: list[Any] = [
    pytest.param(UnixListener, UnixStreamTransport.connect, "unix", socket.SOCK_STREAM, id="unix"),
    pytest.param(
        UnixSeqpacketListener,
        UnixSeqpacketTransport.connect,
        "unixpacket",
        socket.SOCK_SEQPACKET,
        id="unixpacket",
    ),
]


@pytest.mark.parametrize(("listener_class", "connect", "scheme", "sock_type"), UNIX_CONNECTS)
def test_unix_connect_with_timeout_zero_to_a_full_queue_raises_would_block(
    listener_class: Any, connect: Callable[..., Transport], scheme: str, sock_type: int, tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / f"{scheme}.sock"
    with listener_class.listen(path, backlog=0, timeout=TIMEOUT), full_queue(path, sock_type):
        attempts: list[Callable[[], Transport]] = [
            lambda: connect(path, timeout=0),
            lambda: transports.connect(f"{scheme}://{path}", timeout=0),
        ]
        for attempt in attempts:
            with assert_no_fd_leak(), pytest.raises(WouldBlock) as info:
                attempt()
            _assert_connect_would_block(info, f"{scheme}://{path}")
            # The socket is gone: the hint is to try again, not to wait for readiness.
            assert "queue is full" in str(info.value)
            assert "wait for readiness" not in str(info.value)


@pytest.mark.parametrize(("listener_class", "connect", "scheme", "sock_type"), UNIX_CONNECTS)
def test_unix_connect_with_timeout_zero_and_room_in_the_queue_succeeds(
    listener_class: Any, connect: Callable[..., Transport], scheme: str, sock_type: int, tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / f"{scheme}.sock"
    with listener_class.listen(path, timeout=TIMEOUT) as listener:
        with connect(path, timeout=0) as client, listener.accept() as server:
            assert client.timeout == 0
            assert server.remote_address is not None
            assert client.remote_address == listener.address


def test_datagram_connects_with_timeout_zero_succeed_non_blocking(tmp_sock_dir: Path) -> None:
    # Fixing a datagram peer sends nothing, so there is nothing to wait for.
    with UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as server:
        port = server.local_address.port
        with UDPTransport.connect("127.0.0.1", port, timeout=0) as client:
            assert client.timeout == 0
            assert client.remote_address == InetAddress("127.0.0.1", port)
            with pytest.raises(WouldBlock):
                client.recv(10)  # non-blocking indeed
        with transports.connect(f"udp://127.0.0.1:{port}", timeout=0) as client2:
            assert client2.timeout == 0
    path = tmp_sock_dir / "dgram.sock"
    with UnixDatagramTransport.bind(path, timeout=TIMEOUT):
        with UnixDatagramTransport.connect(path, timeout=0) as client3:
            assert client3.timeout == 0
            assert client3.remote_address is not None
        with transports.connect(f"unixgram://{path}", timeout=0) as client4:
            assert client4.timeout == 0


# -- port 0 is no destination ------------------------------------------------------------------


@pytest.fixture
def no_socket_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a name lookup or a new socket happens (a refusal must come first)."""

    def forbidden(*args: object, **kwargs: object) -> Any:
        raise AssertionError(f"a system call was made: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    monkeypatch.setattr(socket, "socket", forbidden)


def _assert_port_zero_refused(info: pytest.ExceptionInfo[AddressError], url: str) -> None:
    error = info.value
    assert not isinstance(error, OSError)  # a caller's mistake, not for a retry loop
    text = str(error)
    assert url in text
    assert "port 0" in text
    assert "1..65535" in text


CONNECTS_TO_PORT_ZERO: list[Any] = [
    pytest.param(lambda h: TCPTransport.connect(h, 0, timeout=TIMEOUT), "tcp", id="tcp"),
    pytest.param(lambda h: UDPTransport.connect(h, 0, timeout=TIMEOUT), "udp", id="udp"),
    pytest.param(
        lambda h: TCPTransport.connect(h, 0, timeout=TIMEOUT, source=InetAddress("127.0.0.1", 0)),
        "tcp",
        id="tcp-with-source",
    ),
]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
@pytest.mark.parametrize(("connect", "network"), CONNECTS_TO_PORT_ZERO)
def test_connecting_to_port_zero_is_refused_before_any_system_call(
    connect: Callable[[str], Transport], network: str, host: str, no_socket_calls: None
) -> None:
    with pytest.raises(AddressError) as info:
        connect(host)
    _assert_port_zero_refused(info, _url(network, host, 0))


@pytest.mark.parametrize("scheme", ["tcp", "tcp4", "udp", "udp4"])
def test_connecting_to_a_port_zero_url_is_refused_before_any_system_call(
    scheme: str, no_socket_calls: None
) -> None:
    with pytest.raises(AddressError) as info:
        transports.connect(f"{scheme}://127.0.0.1:0", timeout=TIMEOUT)
    _assert_port_zero_refused(info, _url(scheme.rstrip("4"), "127.0.0.1", 0))


@pytest.mark.parametrize("scheme", ["tcp6", "udp6"])
def test_connecting_to_a_port_zero_ipv6_url_is_refused(scheme: str, no_socket_calls: None) -> None:
    with pytest.raises(AddressError) as info:
        transports.connect(f"{scheme}://[::1]:0", timeout=TIMEOUT)
    _assert_port_zero_refused(info, _url(scheme.rstrip("6"), "::1", 0))


def test_binding_and_listening_to_port_zero_still_pick_a_free_port() -> None:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        assert listener.address.port != 0
        # port 0 as the *source* of a connect is a bind too: still allowed
        with TCPTransport.connect(
            "127.0.0.1", listener.address.port, timeout=TIMEOUT, source=InetAddress("127.0.0.1", 0)
        ) as client:
            assert client.local_address.port != 0
            listener.accept().close()
    with transports.listen("tcp://127.0.0.1:0", timeout=TIMEOUT) as url_listener:
        assert isinstance(url_listener.address, InetAddress)
        assert url_listener.address.port != 0
    with UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as udp:
        assert udp.local_address.port != 0
        with UDPTransport.connect(
            "127.0.0.1", udp.local_address.port, timeout=TIMEOUT, source=InetAddress("127.0.0.1", 0)
        ) as peer:
            assert peer.local_address.port != 0
    with transports.bind("udp://127.0.0.1:0", timeout=TIMEOUT) as url_udp:
        assert isinstance(url_udp.local_address, InetAddress)
        assert url_udp.local_address.port != 0


@pytest.mark.parametrize("port", [-1, 65536])
@pytest.mark.parametrize("cls", [TCPTransport, UDPTransport])
def test_ports_out_of_range_are_refused_by_the_typed_constructors(port: int, cls: Any) -> None:
    with pytest.raises(AddressError, match=f"port {port} is out of range"):
        cls.connect("127.0.0.1", port, timeout=TIMEOUT)


@pytest.mark.parametrize(
    "url", ["tcp://127.0.0.1:-1", "udp://127.0.0.1:-1", "tcp6://[::1]:-1", "tcp://h:-80"]
)
def test_a_negative_url_port_is_out_of_range_not_a_non_number(url: str) -> None:
    passive = transports.bind if url.startswith("udp") else transports.listen
    for entry in (transports.connect, passive):
        with pytest.raises(AddressError) as info:
            entry(url, timeout=TIMEOUT)
        text = str(info.value)
        assert "is out of range" in text
        assert "not a number" not in text
        assert "0..65535" in text


@pytest.mark.parametrize("url", ["tcp://h:-", "tcp://h:-x", "tcp://h:+80"])
def test_a_sign_without_a_number_is_still_not_a_number(url: str) -> None:
    with pytest.raises(AddressError, match="is not a number"):
        transports.connect(url, timeout=TIMEOUT)


# -- from_socket: connected where the kind needs it, never closed -------------------------------


def test_tcp_from_socket_refuses_an_unconnected_socket_and_leaves_it_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(ValueError, match="not connected") as info:
            TCPTransport.from_socket(sock)
        assert not isinstance(info.value, OSError)
        assert "TCPTransport.from_socket" in str(info.value)
        assert sock.fileno() != -1  # not taken over: still the caller's to use and close


def test_tcp_from_socket_refuses_a_listening_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(ValueError, match="listening"):
            TCPTransport.from_socket(sock)
        assert sock.fileno() != -1


def test_tcp_from_socket_refuses_a_closed_socket() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.close()
    with pytest.raises(ValueError, match="closed"):
        TCPTransport.from_socket(sock)


def test_tcp_from_socket_takes_a_connected_socket() -> None:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        raw = socket.create_connection(("127.0.0.1", listener.address.port), timeout=TIMEOUT)
        with TCPTransport.from_socket(raw) as client, listener.accept() as server:
            client.timeout = TIMEOUT
            server.timeout = TIMEOUT
            assert client.remote_address == listener.address
            client.send_all(b"adopted")
            assert server.recv_exactly(7) == b"adopted"


@pytest.mark.parametrize(
    ("cls", "family", "sock_type"),
    [
        (UDPTransport, socket.AF_INET, socket.SOCK_DGRAM),
        (UnixStreamTransport, socket.AF_UNIX, socket.SOCK_STREAM),
        (UnixSeqpacketTransport, socket.AF_UNIX, socket.SOCK_SEQPACKET),
        (UnixDatagramTransport, socket.AF_UNIX, socket.SOCK_DGRAM),
    ],
)
def test_every_from_socket_refuses_a_closed_socket(cls: Any, family: int, sock_type: int) -> None:
    sock = socket.socket(family, sock_type)
    sock.close()
    with pytest.raises(ValueError, match="closed"):
        cls.from_socket(sock)


@pytest.mark.parametrize(
    ("cls", "sock_type"),
    [(UnixStreamTransport, socket.SOCK_STREAM), (UnixSeqpacketTransport, socket.SOCK_SEQPACKET)],
)
def test_unix_connection_kinds_refuse_an_unconnected_socket(cls: Any, sock_type: int) -> None:
    with socket.socket(socket.AF_UNIX, sock_type) as sock:
        with pytest.raises(ValueError, match="not connected"):
            cls.from_socket(sock)
        assert sock.fileno() != -1
    a, b = socket.socketpair(socket.AF_UNIX, sock_type)
    with cls.from_socket(a) as left, cls.from_socket(b) as right:  # connected ends are fine
        left.timeout = right.timeout = TIMEOUT
        left.send(b"x")
        assert right.recv(1) == b"x"


def test_datagram_kinds_take_an_unconnected_socket(tmp_sock_dir: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    with UDPTransport.from_socket(udp) as transport:
        assert transport.remote_address is None
        assert transport.local_address.port == udp.getsockname()[1]
    unixgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with UnixDatagramTransport.from_socket(unixgram) as transport2:
        assert transport2.remote_address is None
