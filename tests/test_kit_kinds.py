"""Every built-in kind passes the conformance kit, on both faces: the kit is the one statement of the contract.

Each test asks for one of the plugin's fixtures, so it runs once per check
(and, on the async face, once per event loop: asyncio's own and uvloop) and
once per kind: TCP over IPv4 and IPv6, Unix streams (listener and
socketpair), UDP over IPv4 and IPv6, Unix datagrams (socketpair and
bind/connect), Unix seqpacket (listener and socketpair), and the memory
transports. The pairs come from the same builders as the rest of the suite
(``make_pair`` of conftest.py, ``open_pair`` of test_aio.py), each in a
fresh directory so no two pairs share a socket path.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import attrs
import pytest

from conftest import DATAGRAM_PAIRS, HAS_IPV6, SEQPACKET_PAIRS, STREAM_PAIRS, TIMEOUT, make_pair
from test_aio import open_pair
from transports import (
    InetAddress,
    Listener,
    MemoryDatagramTransport,
    MemoryListener,
    MemoryStreamTransport,
    NamedAddress,
    TCPListener,
    TCPTransport,
    Transport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    aio,
    connect,
)
from transports.testing import ListenerCheck, MessageCheck, PairFactory, StreamCheck
from transports.testing.aio_memory import MemoryDatagramTransport as AsyncMemoryDatagramTransport

AsyncFactory = Callable[[], Awaitable[tuple[aio.Transport, aio.Transport]]]
AsyncCheck = Callable[..., None]

MESSAGE_PAIRS = DATAGRAM_PAIRS + SEQPACKET_PAIRS
LISTENERS = ["tcp4", "tcp6", "unix", "unixpacket"]


def _skip_without_ipv6(name: str) -> None:
    if name.endswith("6") and not HAS_IPV6:
        pytest.skip("IPv6 loopback (::1) is not available")


def _fresh_directories(directory: Path) -> Callable[[], Path]:
    numbers = itertools.count()

    def fresh() -> Path:
        path = directory / f"p{next(numbers)}"
        path.mkdir()
        return path

    return fresh


def sync_pairs(name: str, directory: Path) -> PairFactory[Transport]:
    """Pairs of the sync kind *name* (a name of conftest.PAIR_NAMES, or memory, memorygram)."""
    if name == "memory":
        return lambda: MemoryStreamTransport.pair("kit")
    if name == "memorygram":
        return MemoryDatagramTransport.pair
    fresh = _fresh_directories(directory)

    def make() -> tuple[Transport, Transport]:
        with contextlib.ExitStack() as stack:
            pair = make_pair(name, stack, fresh())
            stack.pop_all()  # the kit closes both ends
        return pair.a, pair.b

    return make


def async_pairs(name: str, directory: Path) -> AsyncFactory:
    """Pairs of the async kind *name* (a name of test_aio.PAIR_NAMES, or memory, memorygram)."""
    if name == "memory":
        listeners = async_listeners("memory", directory)

        async def memory_pair() -> tuple[aio.Transport, aio.Transport]:
            async with await listeners.make() as listener:
                client = await listeners.connect(listener)
                return client, await listener.accept()

        return memory_pair
    if name == "memorygram":

        async def memorygram_pair() -> tuple[aio.Transport, aio.Transport]:
            return AsyncMemoryDatagramTransport.pair()

        return memorygram_pair
    fresh = _fresh_directories(directory)

    async def make() -> tuple[aio.Transport, aio.Transport]:
        stack = AsyncExitStack()
        pair = await open_pair(name, stack, fresh())
        stack.pop_all()  # the kit closes both ends
        return pair.a, pair.b

    return make


@attrs.frozen
class SyncListeners:
    make: Callable[[], Listener[Transport]]
    connect: Callable[[Listener[Transport]], Transport]


def _port(address: object) -> int:
    assert isinstance(address, InetAddress)
    return address.port


def _path(address: object) -> str:
    assert not isinstance(address, InetAddress)
    return str(address)


def sync_listeners(name: str, directory: Path) -> SyncListeners:
    """A listener of the sync kind *name* (tcp4, tcp6, unix, unixpacket, memory), and how to connect to it."""
    numbers = itertools.count()
    if name == "memory":
        return SyncListeners(
            lambda: MemoryListener(f"kit-{next(numbers)}"),
            lambda listener: connect(_named(listener.address).url(), timeout=TIMEOUT),
        )
    if name.startswith("tcp"):
        host = "::1" if name == "tcp6" else "127.0.0.1"
        return SyncListeners(
            lambda: TCPListener.listen(host, 0),
            lambda listener: TCPTransport.connect(host, _port(listener.address), timeout=TIMEOUT),
        )
    listen = UnixSeqpacketListener.listen if name == "unixpacket" else UnixListener.listen
    connect_unix = UnixSeqpacketTransport.connect if name == "unixpacket" else UnixStreamTransport.connect
    return SyncListeners(
        lambda: listen(directory / f"l{next(numbers)}.sock"),
        lambda listener: connect_unix(_path(listener.address), timeout=TIMEOUT),
    )


def _named(address: object) -> NamedAddress:
    assert isinstance(address, NamedAddress)
    return address


_memory_numbers = itertools.count()


#: An async listener of any kind: the kit looks at it through the protocols alone.
AsyncListener = Any


@attrs.frozen
class AsyncListeners:
    make: Callable[[], Awaitable[AsyncListener]]
    connect: Callable[[AsyncListener], Awaitable[aio.Transport]]


def async_listeners(name: str, directory: Path) -> AsyncListeners:
    """A listener of the async kind *name* (tcp4, tcp6, unix, unixpacket, memory), and how to connect to it."""
    numbers = itertools.count()
    if name == "memory":

        async def listen_memory() -> AsyncListener:
            return await aio.listen(f"memory://kit-async-{next(_memory_numbers)}")

        async def connect_memory(listener: AsyncListener) -> aio.Transport:
            return await aio.connect(_named(listener.address).url(), timeout=TIMEOUT)

        return AsyncListeners(listen_memory, connect_memory)
    if name.startswith("tcp"):
        host = "::1" if name == "tcp6" else "127.0.0.1"

        async def listen_tcp() -> AsyncListener:
            return await aio.TCPListener.listen(host, 0)

        async def connect_tcp(listener: AsyncListener) -> aio.Transport:
            return await aio.TCPTransport.connect(host, _port(listener.address), timeout=TIMEOUT)

        return AsyncListeners(listen_tcp, connect_tcp)
    seqpacket = name == "unixpacket"

    async def listen_unix() -> AsyncListener:
        path = directory / f"l{next(numbers)}.sock"
        if seqpacket:
            return await aio.UnixSeqpacketListener.listen(path)
        return await aio.UnixListener.listen(path)

    async def connect_unix(listener: AsyncListener) -> aio.Transport:
        if seqpacket:
            return await aio.UnixSeqpacketTransport.connect(_path(listener.address), timeout=TIMEOUT)
        return await aio.UnixStreamTransport.connect(_path(listener.address), timeout=TIMEOUT)

    return AsyncListeners(listen_unix, connect_unix)


@pytest.fixture(autouse=True)
def no_check_thread_left() -> Iterator[None]:
    """Every helper thread the kit starts (the async runner's too) has ended when a check returns."""
    yield
    import threading

    left = [t.name for t in threading.enumerate() if t.name.startswith("transports-check-")]
    assert left == []


# -- the sync face ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*STREAM_PAIRS, "memory"])
def test_stream_kinds(transports_stream_check: StreamCheck, kind: str, tmp_sock_dir: Path) -> None:
    _skip_without_ipv6(kind)
    transports_stream_check(sync_pairs(kind, tmp_sock_dir))


@pytest.mark.parametrize("kind", [*MESSAGE_PAIRS, "memorygram"])
def test_message_kinds(transports_message_check: MessageCheck, kind: str, tmp_sock_dir: Path) -> None:
    _skip_without_ipv6(kind)
    transports_message_check(sync_pairs(kind, tmp_sock_dir))


@pytest.mark.parametrize("kind", [*LISTENERS, "memory"])
def test_listener_kinds(transports_listener_check: ListenerCheck, kind: str, tmp_sock_dir: Path) -> None:
    _skip_without_ipv6(kind)
    listeners = sync_listeners(kind, tmp_sock_dir)
    transports_listener_check(listeners.make, listeners.connect)


# -- the async face, on asyncio's loop and on uvloop --------------------------------------------------


@pytest.mark.parametrize("kind", [*STREAM_PAIRS, "memory"])
def test_async_stream_kinds(transports_async_stream_check: AsyncCheck, kind: str, tmp_sock_dir: Path) -> None:
    _skip_without_ipv6(kind)
    transports_async_stream_check(async_pairs(kind, tmp_sock_dir))


@pytest.mark.parametrize("kind", [*MESSAGE_PAIRS, "memorygram"])
def test_async_message_kinds(
    transports_async_message_check: AsyncCheck, kind: str, tmp_sock_dir: Path
) -> None:
    _skip_without_ipv6(kind)
    transports_async_message_check(async_pairs(kind, tmp_sock_dir))


@pytest.mark.parametrize("kind", [*LISTENERS, "memory"])
def test_async_listener_kinds(
    transports_async_listener_check: AsyncCheck, kind: str, tmp_sock_dir: Path
) -> None:
    _skip_without_ipv6(kind)
    listeners = async_listeners(kind, tmp_sock_dir)
    transports_async_listener_check(listeners.make, listeners.connect)
