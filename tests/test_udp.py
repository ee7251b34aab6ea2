"""UDP: addressed datagrams, their size limit, and ICMP errors on connected sockets (APUE 16.5)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import HAS_IPV6, TIMEOUT
from transports import (
    AddressError,
    AddressInUse,
    ConnectionRefused,
    Datagram,
    InetAddress,
    MessageTooLarge,
    NotConnected,
    RecvFlags,
    SendFlags,
    TransportError,
    UDPTransport,
    WouldBlock,
)

HOSTS = [
    pytest.param("127.0.0.1", id="ipv4"),
    pytest.param("::1", id="ipv6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")),
]
#: The largest payload of one UDP datagram: 65535 less the IP and UDP headers (IPv6's length excludes its own).
LIMITS = {"127.0.0.1": 65507, "::1": 65527}


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def bound_pair(host: str) -> Iterator[tuple[UDPTransport, UDPTransport]]:
    """Two unconnected UDP transports bound to free ports of *host*."""
    with (
        UDPTransport.bind(host, 0, timeout=TIMEOUT) as a,
        UDPTransport.bind(host, 0, timeout=TIMEOUT) as b,
    ):
        yield a, b


def _unused_udp_port(host: str) -> int:
    # Bound then closed: nothing listens there now (another process taking it is very unlikely).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def test_send_to_and_recv_from(bound_pair: tuple[UDPTransport, UDPTransport], host: str) -> None:
    a, b = bound_pair
    assert a.local_address.host == host
    assert a.local_address.port != 0
    assert a.remote_address is None
    assert a.send_to(b"hello", b.local_address) == 5
    assert b.recv_from(100) == Datagram(b"hello", a.local_address, truncated=False, size=5)
    # A (host, port) tuple works too, and the answer goes back to the sender.
    assert b.send_to(b"back", (host, a.local_address.port)) == 4
    assert a.recv_from(100) == Datagram(b"back", b.local_address, truncated=False, size=4)


def test_send_to_refuses_unix_addresses(bound_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, _ = bound_pair
    with pytest.raises(AddressError, match="InetAddress"):
        a.send_to(b"x", "/tmp/some.sock")


def test_largest_datagram(bound_pair: tuple[UDPTransport, UDPTransport], host: str) -> None:
    a, b = bound_pair
    limit = LIMITS[host]
    assert a.max_message_size == limit
    data = bytes(range(256)) * (limit // 256) + bytes(limit % 256)
    assert a.send_to(data, b.local_address) == limit
    assert b.recv_from(limit).data == data


def test_one_byte_over_the_limit(bound_pair: tuple[UDPTransport, UDPTransport], host: str) -> None:
    a, b = bound_pair
    limit = LIMITS[host]
    with pytest.raises(MessageTooLarge) as info:
        a.send_to(bytes(limit + 1), b.local_address)
    err = info.value
    assert err.limit == limit
    assert err.size == limit + 1
    assert err.errno == errno.EMSGSIZE
    assert err.bytes_sent == 0
    assert f"limit {limit}" in str(err)
    # Nothing was sent.
    with pytest.raises(WouldBlock):
        b.recv_from(limit + 1, RecvFlags.DONTWAIT)


def test_connected_send_over_the_limit(host: str) -> None:
    with (
        UDPTransport.bind(host, 0, timeout=TIMEOUT) as server,
        UDPTransport.connect(host, server.local_address.port, timeout=TIMEOUT) as client,
    ):
        limit = LIMITS[host]
        with pytest.raises(MessageTooLarge) as info:
            client.send(bytes(limit + 1))
        assert info.value.limit == limit
        assert client.send(bytes(limit)) == limit
        assert len(server.recv(limit)) == limit


def test_connected_socket_learns_of_icmp_refusal(host: str) -> None:
    port = _unused_udp_port(host)
    with UDPTransport.connect(host, port, timeout=TIMEOUT) as client:
        assert client.remote_address == InetAddress(host, port)
        client.send(b"is anyone there?")
        # The port-unreachable ICMP answer comes back as an error on a later call.
        with pytest.raises(ConnectionRefused) as info:
            client.recv(100)
        assert isinstance(info.value, ConnectionRefusedError)
        assert info.value.op == "recv"
        assert str(port) in str(info.value)


def test_send_without_a_peer_says_what_to_do(bound_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, _ = bound_pair
    with pytest.raises(NotConnected) as info:
        a.send(b"to whom?")
    assert isinstance(info.value, TransportError)
    assert info.value.op == "send"
    assert "connect" in str(info.value)
    assert "send_to" in str(info.value)


def test_more_flag_coalesces_datagrams(host: str) -> None:
    with (
        UDPTransport.bind(host, 0, timeout=TIMEOUT) as server,
        UDPTransport.connect(host, server.local_address.port, timeout=TIMEOUT) as client,
    ):
        client.send(b"one ", SendFlags.MORE)
        client.send(b"two ", SendFlags.MORE)
        client.send(b"three")
        assert server.recv(100) == b"one two three"


def test_bind_to_a_busy_port(fd_count: Callable[[], int]) -> None:
    with UDPTransport.bind("127.0.0.1", 0) as first:
        before = fd_count()
        with pytest.raises(AddressInUse) as info:
            UDPTransport.bind("127.0.0.1", first.local_address.port)
        assert f"udp://127.0.0.1:{first.local_address.port}" in str(info.value)
        assert fd_count() == before


def test_family_selection() -> None:
    with UDPTransport.bind("127.0.0.1", 0, family="ipv4") as v4:
        assert v4.raw_socket.family == socket.AF_INET
        assert v4.max_message_size == 65507
    with pytest.raises(TransportError, match="resolve"):
        UDPTransport.bind("127.0.0.1", 0, family="ipv6")


def test_a_name_with_several_addresses_is_refused_not_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    """bind and connect say which addresses a name gave instead of silently taking the first."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, kind: int = 0, *args: Any) -> Any:
        if host != "twice.invalid":
            return real(host, port, family, kind, *args)
        return [
            (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP, "", ("127.0.0.1", port)),
            (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP, "", ("127.0.0.2", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(
        AddressError, match=r"resolves to 2 addresses \(127\.0\.0\.1, 127\.0\.0\.2\)"
    ) as bound:
        UDPTransport.bind("twice.invalid", 0)
    assert "bind udp://twice.invalid" in str(bound.value)
    with pytest.raises(AddressError, match="resolves to 2 addresses") as connected:
        UDPTransport.connect("twice.invalid", 53)
    assert "connect to udp://twice.invalid:53" in str(connected.value)
