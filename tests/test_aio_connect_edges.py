"""Edges of connecting and adopting sockets (issue 13, the smaller defects), on the async face.

The same rules as ``test_connect_edges.py``, and where both faces can fail
the same way, the same error: ``timeout=0`` on a connect never waits and
raises :class:`WouldBlock` when the connect cannot complete at once (never a
:class:`TransportTimeout`); port 0 is refused as an :class:`AddressError`
before any lookup or socket; ``from_socket`` refuses what the sync class
refuses. Every test runs on asyncio's loop and on uvloop.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

import transports
from conftest import TIMEOUT, assert_no_fd_leak, needs_ipv6
from test_aio import LOOPS, Loop
from test_connect_edges import full_queue
from transports import (
    AddressError,
    InetAddress,
    TCPTransport,
    TransportTimeout,
    UDPTransport,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    WouldBlock,
    aio,
)


@pytest.fixture(params=LOOPS)
def aloop(request: pytest.FixtureRequest) -> Iterator[Loop]:
    """An event loop of each kind; no task may outlive the test."""
    loop = Loop(request.param)
    try:
        yield loop
    finally:
        loop.close()


def _sync_error(call: Callable[[], object]) -> BaseException:
    try:
        result = call()
    except BaseException as exc:
        return exc
    raise AssertionError(f"no error: {result!r}")


async def _async_error(call: Callable[[], Coroutine[Any, Any, object]]) -> BaseException:
    try:
        result = await call()
    except BaseException as exc:
        return exc
    raise AssertionError(f"no error: {result!r}")


def _assert_same_error(sync: BaseException, asynchronous: BaseException) -> None:
    assert type(asynchronous) is type(sync)
    assert str(asynchronous) == str(sync)


# -- timeout=0 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", [pytest.param("127.0.0.1", id="ipv4"), pytest.param("::1", id="ipv6", marks=needs_ipv6)]
)
def test_tcp_connect_with_timeout_zero_raises_would_block_as_the_sync_one_does(
    aloop: Loop, host: str
) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen(host, 0, timeout=TIMEOUT) as listener:
            port = listener.address.port
            url = InetAddress(host, port).url("tcp")
            sync = _sync_error(lambda: TCPTransport.connect(host, port, timeout=0))
            with assert_no_fd_leak():
                typed = await _async_error(lambda: aio.TCPTransport.connect(host, port, timeout=0))
                by_url = await _async_error(lambda: aio.connect(url, timeout=0))
        for error in (typed, by_url):
            assert isinstance(error, WouldBlock)
            assert not isinstance(error, TransportTimeout)
            assert error.op == "connect"
            assert error.address == url
            assert "timeout=0 never waits" in str(error)
            _assert_same_error(sync, error)

    aloop.run(body())


UNIX_CONNECTS: list[Any] = [
    pytest.param(
        aio.UnixListener, aio.UnixStreamTransport, UnixStreamTransport, "unix", socket.SOCK_STREAM, id="unix"
    ),
    pytest.param(
        aio.UnixSeqpacketListener,
        aio.UnixSeqpacketTransport,
        UnixSeqpacketTransport,
        "unixpacket",
        socket.SOCK_SEQPACKET,
        id="unixpacket",
    ),
]


@pytest.mark.parametrize(("listener_class", "cls", "sync_cls", "scheme", "sock_type"), UNIX_CONNECTS)
def test_unix_connect_with_timeout_zero_to_a_full_queue_raises_would_block(
    aloop: Loop,
    listener_class: Any,
    cls: Any,
    sync_cls: Any,
    scheme: str,
    sock_type: int,
    tmp_sock_dir: Path,
) -> None:
    path = tmp_sock_dir / f"{scheme}.sock"
    url = f"{scheme}://{path}"

    async def body() -> None:
        async with await listener_class.listen(path, backlog=0, timeout=TIMEOUT):
            with full_queue(path, sock_type):
                sync = _sync_error(lambda: sync_cls.connect(path, timeout=0))
                with assert_no_fd_leak():
                    typed = await _async_error(lambda: cls.connect(path, timeout=0))
                    by_url = await _async_error(lambda: aio.connect(url, timeout=0))
        for error in (typed, by_url):
            assert isinstance(error, WouldBlock), repr(error)
            assert not isinstance(error, TransportTimeout)
            assert error.address == url
            assert "queue is full" in str(error)
            _assert_same_error(sync, error)

    aloop.run(body())


@pytest.mark.parametrize(("listener_class", "cls", "sync_cls", "scheme", "sock_type"), UNIX_CONNECTS)
def test_unix_connect_with_timeout_zero_and_room_succeeds_non_blocking(
    aloop: Loop,
    listener_class: Any,
    cls: Any,
    sync_cls: Any,
    scheme: str,
    sock_type: int,
    tmp_sock_dir: Path,
) -> None:
    path = tmp_sock_dir / f"{scheme}.sock"

    async def body() -> None:
        async with await listener_class.listen(path, timeout=TIMEOUT) as listener:
            async with await cls.connect(path, timeout=0) as client, await listener.accept():
                assert client.timeout == 0
                assert client.remote_address == listener.address
                with pytest.raises(WouldBlock):
                    await client.recv(1)  # timeout 0: a call that would wait says so

    aloop.run(body())


def test_datagram_connects_with_timeout_zero_succeed_non_blocking(aloop: Loop, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "dgram.sock"

    async def body() -> None:
        async with await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as server:
            port = server.local_address.port
            async with await aio.UDPTransport.connect("127.0.0.1", port, timeout=0) as client:
                assert client.timeout == 0
                assert client.remote_address == InetAddress("127.0.0.1", port)
        async with await aio.UnixDatagramTransport.bind(path, timeout=TIMEOUT):
            async with await aio.UnixDatagramTransport.connect(path, timeout=0) as client2:
                assert client2.timeout == 0
                with pytest.raises(WouldBlock):
                    await client2.recv(1)

    aloop.run(body())


# -- port 0 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_connecting_to_port_zero_is_refused_before_any_lookup_or_socket(
    aloop: Loop, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = {
        "tcp": _sync_error(lambda: TCPTransport.connect(host, 0, timeout=TIMEOUT)),
        "udp": _sync_error(lambda: UDPTransport.connect(host, 0, timeout=TIMEOUT)),
    }

    def forbidden(*args: object, **kwargs: object) -> Any:
        raise AssertionError(f"a system call was made: {args!r}")

    async def body() -> None:
        monkeypatch.setattr(socket, "getaddrinfo", forbidden)
        monkeypatch.setattr(socket, "socket", forbidden)
        try:
            tcp = await _async_error(lambda: aio.TCPTransport.connect(host, 0, timeout=TIMEOUT))
            udp = await _async_error(lambda: aio.UDPTransport.connect(host, 0, timeout=TIMEOUT))
            url = await _async_error(lambda: aio.connect(f"tcp://{InetAddress(host, 0)}", timeout=TIMEOUT))
            url_udp = await _async_error(
                lambda: aio.connect(f"udp://{InetAddress(host, 0)}", timeout=TIMEOUT)
            )
        finally:
            monkeypatch.undo()
        for network, error in (("tcp", tcp), ("udp", udp), ("tcp", url), ("udp", url_udp)):
            assert isinstance(error, AddressError), repr(error)
            assert InetAddress(host, 0).url(network) in str(error)
            assert "port 0" in str(error)
            _assert_same_error(expected[network], error)

    aloop.run(body())


def test_binding_and_listening_to_port_zero_still_pick_a_free_port(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
            assert listener.address.port != 0
        async with await aio.listen("tcp://127.0.0.1:0", timeout=TIMEOUT) as url_listener:
            assert isinstance(url_listener.address, InetAddress)
            assert url_listener.address.port != 0
        async with await aio.UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as udp:
            assert udp.local_address.port != 0
        async with await aio.bind("udp://127.0.0.1:0", timeout=TIMEOUT) as url_udp:
            assert isinstance(url_udp.local_address, InetAddress)
            assert url_udp.local_address.port != 0

    aloop.run(body())


def test_a_source_that_is_not_an_address_is_refused_as_in_the_sync_twin(aloop: Loop) -> None:
    async def body() -> None:
        source: Any = "127.0.0.1"
        sync = _sync_error(lambda: TCPTransport.connect("127.0.0.1", 9, timeout=TIMEOUT, source=source))
        with assert_no_fd_leak():
            error = await _async_error(
                lambda: aio.TCPTransport.connect("127.0.0.1", 9, timeout=TIMEOUT, source=source)
            )
        assert isinstance(error, TypeError), repr(error)
        _assert_same_error(sync, error)

    aloop.run(body())


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:-1", "udp://127.0.0.1:-1"])
def test_a_negative_url_port_is_out_of_range(aloop: Loop, url: str) -> None:
    async def body() -> None:
        error = await _async_error(lambda: aio.connect(url, timeout=TIMEOUT))
        assert isinstance(error, AddressError)
        assert "is out of range" in str(error)
        _assert_same_error(_sync_error(lambda: transports.connect(url, timeout=TIMEOUT)), error)

    aloop.run(body())


# -- from_socket ------------------------------------------------------------------------------------


def test_tcp_from_socket_refuses_unconnected_listening_and_closed_sockets(aloop: Loop) -> None:
    async def body() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            with pytest.raises(ValueError, match="not connected"):
                aio.TCPTransport.from_socket(sock)
            assert sock.fileno() != -1
            assert sock.getblocking()  # untouched: not made non-blocking either
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            with pytest.raises(ValueError, match="listening"):
                aio.TCPTransport.from_socket(sock)
        closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        closed.close()
        with pytest.raises(ValueError, match="closed"):
            aio.TCPTransport.from_socket(closed)

    aloop.run(body())


def test_tcp_from_socket_takes_a_connected_socket(aloop: Loop) -> None:
    async def body() -> None:
        async with await aio.TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
            raw = socket.create_connection(("127.0.0.1", listener.address.port), timeout=TIMEOUT)
            async with aio.TCPTransport.from_socket(raw) as client, await listener.accept() as server:
                client.timeout = server.timeout = TIMEOUT
                await client.send_all(b"adopted")
                assert await server.recv_exactly(7) == b"adopted"

    aloop.run(body())


@pytest.mark.parametrize(
    ("cls", "family", "sock_type"),
    [
        (aio.UDPTransport, socket.AF_INET, socket.SOCK_DGRAM),
        (aio.UnixStreamTransport, socket.AF_UNIX, socket.SOCK_STREAM),
        (aio.UnixSeqpacketTransport, socket.AF_UNIX, socket.SOCK_SEQPACKET),
        (aio.UnixDatagramTransport, socket.AF_UNIX, socket.SOCK_DGRAM),
    ],
)
def test_every_from_socket_refuses_a_closed_socket(
    aloop: Loop, cls: Any, family: int, sock_type: int
) -> None:
    async def body() -> None:
        sock = socket.socket(family, sock_type)
        sock.close()
        with pytest.raises(ValueError, match="closed"):
            cls.from_socket(sock)

    aloop.run(body())


def test_unix_stream_from_socket_refuses_unconnected_and_datagrams_take_it(aloop: Loop) -> None:
    async def body() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            with pytest.raises(ValueError, match="not connected"):
                aio.UnixStreamTransport.from_socket(sock)
            assert sock.fileno() != -1
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        async with aio.UDPTransport.from_socket(udp) as transport:
            assert transport.remote_address is None
        async with aio.UnixDatagramTransport.from_socket(
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ) as t2:
            assert t2.remote_address is None

    aloop.run(body())
