"""The URL entry points (connect, listen, bind, socketpair) and the scheme registry."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import transports
from conftest import HAS_IPV6, TIMEOUT
from transports import (
    AddressError,
    InetAddress,
    Kind,
    Listener,
    OpenArgs,
    SchemeFactory,
    TCPListener,
    TCPTransport,
    Transport,
    UDPTransport,
    UnixAddress,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnknownScheme,
    registry,
)
from transports.options import SO_KEEPALIVE, TCP_NODELAY

BUILTIN_SCHEMES = {"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixgram", "unixpacket"}
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="IPv6 loopback (::1) is not available")


# -- connection-oriented schemes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host"),
    [
        pytest.param("tcp", "127.0.0.1", id="tcp"),
        pytest.param("tcp4", "127.0.0.1", id="tcp4"),
        pytest.param("tcp6", "[::1]", id="tcp6", marks=needs_ipv6),
        pytest.param("tcp", "[::1]", id="tcp-ipv6", marks=needs_ipv6),
    ],
)
def test_tcp_schemes(scheme: str, host: str) -> None:
    with transports.listen(f"{scheme}://{host}:0", timeout=TIMEOUT) as listener:
        assert type(listener) is TCPListener
        address = listener.address
        assert isinstance(address, InetAddress)
        url = f"{scheme}://{host}:{address.port}"
        with transports.connect(url, timeout=TIMEOUT) as client, listener.accept() as server:
            assert type(client) is TCPTransport
            assert type(server) is TCPTransport
            assert client.timeout == TIMEOUT
            assert client.remote_address == address
            client.send(b"via url")
            server.timeout = TIMEOUT
            assert server.recv(100) == b"via url"


@pytest.mark.parametrize(
    ("scheme", "listener_cls", "transport_cls"),
    [
        pytest.param("unix", UnixListener, UnixStreamTransport, id="unix"),
        pytest.param("unixpacket", UnixSeqpacketListener, UnixSeqpacketTransport, id="unixpacket"),
    ],
)
def test_unix_connection_schemes(
    scheme: str, listener_cls: type[Listener[Transport]], transport_cls: type[Transport], tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "api.sock"
    url = f"{scheme}://{path}"
    with transports.listen(url, mode=0o640, timeout=TIMEOUT) as listener:
        assert type(listener) is listener_cls
        assert listener.address == UnixAddress(os.fspath(path))
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        with transports.connect(url, timeout=TIMEOUT) as client, listener.accept() as server:
            assert type(client) is transport_cls
            assert type(server) is transport_cls
            client.send(b"over unix")
            server.timeout = TIMEOUT
            assert server.recv(100) == b"over unix"
    assert not path.exists()


def test_connect_passes_options() -> None:
    with transports.listen("tcp://127.0.0.1:0") as listener:
        address = listener.address
        assert isinstance(address, InetAddress)
        with (
            transports.connect(
                address.url("tcp"), timeout=TIMEOUT, options=[TCP_NODELAY(True), SO_KEEPALIVE(True)]
            ) as client,
            listener.accept(),
        ):
            assert isinstance(client, TCPTransport)
            assert client.get_option(TCP_NODELAY) is True
            assert client.get_option(SO_KEEPALIVE) is True


# -- datagram schemes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host"),
    [
        pytest.param("udp", "127.0.0.1", id="udp"),
        pytest.param("udp4", "127.0.0.1", id="udp4"),
        pytest.param("udp6", "[::1]", id="udp6", marks=needs_ipv6),
    ],
)
def test_udp_schemes(scheme: str, host: str) -> None:
    with transports.bind(f"{scheme}://{host}:0", timeout=TIMEOUT) as server:
        assert type(server) is UDPTransport
        address = server.local_address
        assert isinstance(address, InetAddress)
        with transports.connect(f"{scheme}://{host}:{address.port}", timeout=TIMEOUT) as client:
            assert type(client) is UDPTransport
            assert client.remote_address == address
            client.send(b"datagram")
            received = server.recv_from(100)
            assert received.data == b"datagram"
            assert received.address == client.local_address


def test_unixgram_scheme(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "gram.sock"
    with transports.bind(f"unixgram://{path}", timeout=TIMEOUT) as server:
        assert type(server) is UnixDatagramTransport
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with transports.connect(f"unixgram://{path}", timeout=TIMEOUT) as client:
            assert type(client) is UnixDatagramTransport
            client.send(b"gram")
            received = server.recv_from(100)
            assert received.data == b"gram"
            server.send_to(b"answer", received.address)
            assert client.recv(100) == b"answer"
    assert not path.exists()


def test_unixgram_autobind() -> None:
    with transports.bind("unixgram:") as autobound:
        assert type(autobound) is UnixDatagramTransport
        address = autobound.local_address
        assert isinstance(address, UnixAddress)
        assert address.abstract


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["udp://127.0.0.1:0", "udp6://[::1]:0", "unixgram://@x"])
def test_listen_on_a_datagram_scheme(url: str, fd_count: Callable[[], int]) -> None:
    before = fd_count()
    with pytest.raises(AddressError, match=r"transports\.bind\(\)"):
        transports.listen(url)
    assert fd_count() == before


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:0", "unix:///tmp/x.sock", "unixpacket://@x"])
def test_bind_on_a_connection_scheme(url: str, fd_count: Callable[[], int]) -> None:
    before = fd_count()
    with pytest.raises(AddressError, match=r"transports\.listen\(\)"):
        transports.bind(url)
    assert fd_count() == before


def test_connect_needs_a_host() -> None:
    with pytest.raises(AddressError, match="a host is needed"):
        transports.connect("tcp://:8080")


def test_unknown_scheme_lists_the_known_ones(fd_count: Callable[[], int]) -> None:
    before = fd_count()
    for call in (transports.connect, transports.listen, transports.bind):
        with pytest.raises(UnknownScheme) as info:
            call("sctp://127.0.0.1:9")
        err = info.value
        assert isinstance(err, AddressError)
        assert isinstance(err, ValueError)
        assert err.scheme == "sctp"
        assert set(err.known) >= BUILTIN_SCHEMES
        for scheme in BUILTIN_SCHEMES:
            assert scheme in str(err)
    assert fd_count() == before


def test_url_without_scheme() -> None:
    with pytest.raises(AddressError, match="needs a scheme"):
        transports.connect("/run/app.sock")


# -- socketpair ----------------------------------------------------------------------------------


def test_socketpair_kinds() -> None:
    expected = {
        Kind.STREAM: UnixStreamTransport,
        Kind.DATAGRAM: UnixDatagramTransport,
        Kind.SEQPACKET: UnixSeqpacketTransport,
    }
    for kind, cls in expected.items():
        a, b = transports.socketpair(kind)
        with a, b:
            assert type(a) is cls
            assert type(b) is cls
            assert a.kind is kind
            b.timeout = TIMEOUT
            a.send(b"pair")
            assert b.recv(10) == b"pair"
    default_a, default_b = transports.socketpair()
    with default_a, default_b:
        assert type(default_a) is UnixStreamTransport


# -- the registry ----------------------------------------------------------------------------------


@pytest.fixture
def saved_registry() -> Iterator[None]:
    """Put the registry back as it was: there is no unregister, on purpose."""
    saved = dict(registry._registry)
    try:
        yield
    finally:
        registry._registry.clear()
        registry._registry.update(saved)


class FakeScheme:
    """A scheme factory that hands out one end of a socketpair and records what it was asked."""

    def __init__(self, description: str = "a fake for tests") -> None:
        self.calls: list[tuple[str, str, OpenArgs]] = []
        self._description = description
        self.opened: list[Transport] = []

    @property
    def kind(self) -> Kind:
        return Kind.STREAM

    @property
    def description(self) -> str:
        return self._description

    def _pair(self, op: str, url: str, args: OpenArgs) -> Transport:
        self.calls.append((op, url, args))
        a, b = transports.socketpair("stream")
        self.opened.append(b)
        return a

    def connect(self, url: str, args: OpenArgs) -> Transport:
        return self._pair("connect", url, args)

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        self.calls.append(("listen", url, args))
        raise AddressError(f"listen({url!r}): the fake scheme only connects")

    def bind(self, url: str, args: OpenArgs) -> Transport:
        return self._pair("bind", url, args)

    def close(self) -> None:
        for end in self.opened:
            end.close()


@pytest.fixture
def fake() -> Iterator[FakeScheme]:
    factory = FakeScheme()
    try:
        yield factory
    finally:
        factory.close()


def test_builtin_schemes_are_registered() -> None:
    schemes = transports.registered_schemes()
    assert set(schemes) >= BUILTIN_SCHEMES
    for name in BUILTIN_SCHEMES:
        factory = schemes[name]
        assert isinstance(factory, SchemeFactory)
        assert factory.description
    assert schemes["unixgram"].kind is Kind.DATAGRAM
    assert schemes["unixpacket"].kind is Kind.SEQPACKET
    assert schemes["tcp6"].kind is Kind.STREAM


def test_registered_schemes_is_a_snapshot(saved_registry: None) -> None:
    snapshot = transports.registered_schemes()
    assert isinstance(snapshot, dict)
    snapshot.pop("tcp")
    assert "tcp" in transports.registered_schemes()


def test_register_a_scheme(saved_registry: None, fake: FakeScheme) -> None:
    assert isinstance(fake, SchemeFactory)
    transports.register("fake", fake)
    assert transports.registered_schemes()["fake"] is fake
    with transports.connect("fake://anything", timeout=2.0, options=[TCP_NODELAY(True)]) as conn:
        assert isinstance(conn, UnixStreamTransport)
    with transports.bind("FAKE:other") as bound:  # schemes are case-insensitive
        assert isinstance(bound, UnixStreamTransport)
    with pytest.raises(AddressError, match="only connects"):
        transports.listen("fake://x", backlog=5, mode=0o644)
    assert [(op, url) for op, url, _ in fake.calls] == [
        ("connect", "fake://anything"),
        ("bind", "FAKE:other"),
        ("listen", "fake://x"),
    ]
    assert fake.calls[0][2] == OpenArgs(timeout=2.0, options=(TCP_NODELAY(True),))
    assert fake.calls[2][2].backlog == 5
    assert fake.calls[2][2].mode == 0o644
    with pytest.raises(UnknownScheme) as info:
        transports.connect("nothing://here")
    assert "fake" in info.value.known


def test_register_twice_needs_replace(saved_registry: None, fake: FakeScheme) -> None:
    transports.register("fake", fake)
    other = FakeScheme("the replacement")
    with pytest.raises(ValueError, match="already registered"):
        transports.register("fake", other)
    assert transports.registered_schemes()["fake"] is fake
    transports.register("fake", other, replace=True)
    assert transports.registered_schemes()["fake"] is other
    # Even a built-in can be replaced, but only on purpose.
    with pytest.raises(ValueError, match="replace=True"):
        transports.register("tcp", other)


def test_register_checks_its_arguments(saved_registry: None, fake: FakeScheme) -> None:
    for bad_name in ("", "9p", "has space", "a/b", "x:"):
        with pytest.raises(AddressError):
            transports.register(bad_name, fake)
    with pytest.raises(TypeError, match="factory needs"):
        transports.register("broken", object())  # type: ignore[arg-type]
    assert "broken" not in transports.registered_schemes()
