"""Typed ancillary data on real loopback sockets: timestamps, packet info, queued ICMP errors (APUE 16.5)."""

from __future__ import annotations

import errno
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blocking import wait_until_blocked
from conftest import HAS_IPV6, TIMEOUT, Background
from test_udp import HOSTS
from transports import (
    AddressError,
    ConnectionRefused,
    InetAddress,
    RecvFlags,
    TransportClosed,
    UDPTransport,
    UnixDatagramTransport,
    UnsupportedOption,
    WouldBlock,
)
from transports._core import cmsg
from transports.ancillary import (
    IP_PKTINFO,
    IP_RECVERR,
    IPV6_RECVERR,
    IPV6_RECVPKTINFO,
    SO_TIMESTAMPNS,
    AncillaryMixin,
    ErrorOrigin,
    PacketInfo,
    QueuedError,
    ReceivedMessage,
    Timestamp,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="ancillary data is Linux-only here"
)


#: The transports under test: the library's own classes, which carry the mixin.
AncUDP = UDPTransport
AncUnixgram = UnixDatagramTransport


def test_the_datagram_transports_carry_the_mixin() -> None:
    assert issubclass(UDPTransport, AncillaryMixin)
    assert issubclass(UnixDatagramTransport, AncillaryMixin)


def _closed_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def _lo_has(address: str) -> bool:
    """Whether this host can bind *address* (Linux routes all of 127/8 on lo)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def pair(host: str) -> Iterator[tuple[AncUDP, AncUDP]]:
    with AncUDP.bind(host, 0, timeout=TIMEOUT) as a, AncUDP.bind(host, 0, timeout=TIMEOUT) as b:
        yield a, b


# -- the sans-IO part ------------------------------------------------------------------------------


def test_constants_missing_from_python_are_defined_on_linux() -> None:
    assert cmsg.IP_PKTINFO == 8
    assert cmsg.IP_RECVERR == 11
    assert cmsg.IPV6_RECVERR == 25
    assert cmsg.IPV6_RECVPKTINFO == socket.IPPROTO_IPV6 + 8  # 49: Python has this one
    assert cmsg.MSG_ERRQUEUE == socket.MSG_ERRQUEUE


def test_parse_control_decodes_each_message() -> None:
    spec = b"\x7f\x00\x00\x01"
    addr = b"\x7f\x00\x00\x02"
    assert cmsg.IP_PKTINFO is not None
    assert cmsg.IP_RECVERR is not None
    pktinfo = (cmsg.SOL_IP, cmsg.IP_PKTINFO, (3).to_bytes(4, sys.byteorder) + spec + addr)
    assert cmsg.SO_TIMESTAMPNS is not None
    stamp = (
        socket.SOL_SOCKET,
        cmsg.SO_TIMESTAMPNS,
        (7).to_bytes(8, sys.byteorder) + (9).to_bytes(8, sys.byteorder),
    )
    offender = socket.AF_INET.to_bytes(2, sys.byteorder) + (0).to_bytes(2, "big") + spec + bytes(8)
    extended = errno.ECONNREFUSED.to_bytes(4, sys.byteorder) + bytes([2, 3, 3, 0]) + bytes(8) + offender
    error = (cmsg.SOL_IP, cmsg.IP_RECVERR, extended)
    raw = cmsg.parse_control([pktinfo, stamp, error, (99, 99, b"unknown")])
    assert raw.destination == ("127.0.0.2", 3)
    assert raw.timestamp == (7, 9)
    assert raw.error == cmsg.RawError(errno.ECONNREFUSED, 2, 3, 3, 0, ("127.0.0.1", 0))


def test_source_control_builds_pktinfo_for_each_family() -> None:
    level, kind, data = cmsg.source_control(socket.AF_INET, "127.0.0.2", 0)
    assert (level, kind) == (cmsg.SOL_IP, cmsg.IP_PKTINFO)
    assert data[4:8] == socket.inet_pton(socket.AF_INET, "127.0.0.2")
    level, kind, data = cmsg.source_control(socket.AF_INET6, "127.0.0.2", 1)
    assert (level, kind) == (cmsg.SOL_IPV6, cmsg.IPV6_PKTINFO)
    assert data[:16] == socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.2")


# -- timestamps ------------------------------------------------------------------------------------


def test_timestamp_is_close_to_now(pair: tuple[AncUDP, AncUDP]) -> None:
    a, b = pair
    before = time.time()
    a.send_to(b"tick", b.local_address)
    message = b.recv_msg(100, timestamps=True)
    assert isinstance(message, ReceivedMessage)
    assert (message.data, message.address, message.truncated, message.size) == (
        b"tick",
        a.local_address,
        False,
        4,
    )
    assert isinstance(message.timestamp, Timestamp)
    assert 0 <= message.timestamp.nanoseconds < 10**9
    # Generous: the kernel's clock and time.time() are the same clock; the bound is only for a loaded machine.
    assert before - 1 <= message.timestamp.time <= time.time() + 1
    assert message.destination is None
    assert message.error is None


def test_options_are_turned_on_only_when_asked(pair: tuple[AncUDP, AncUDP]) -> None:
    a, b = pair
    a.send_to(b"plain", b.local_address)
    message = b.recv_msg(100)
    assert (message.timestamp, message.destination, message.error) == (None, None, None)
    assert cmsg.SO_TIMESTAMPNS is not None
    assert b.raw_socket.getsockopt(socket.SOL_SOCKET, cmsg.SO_TIMESTAMPNS) == 0
    # recv_from still works after the options are on: it ignores control data.
    a.send_to(b"one", b.local_address)
    assert b.recv_msg(100, timestamps=True, destination=True).destination is not None
    a.send_to(b"two", b.local_address)
    assert b.recv_from(100).data == b"two"


def test_turned_on_when_first_asked_or_at_bind(host: str) -> None:
    # Asked first, then sent: the datagram is stamped and carries its interface.
    with AncUDP.bind(host, 0, timeout=TIMEOUT) as a, AncUDP.bind(host, 0, timeout=TIMEOUT) as b:
        with pytest.raises(WouldBlock):
            b.recv_msg(10, RecvFlags.DONTWAIT, timestamps=True, destination=True)
        a.send_to(b"late", b.local_address)
        message = b.recv_msg(10, timestamps=True, destination=True)
        assert message.destination == PacketInfo(host, socket.if_nametoindex("lo"))
    # Or turned on at bind with the typed options, before any datagram arrives.
    options = [SO_TIMESTAMPNS(True), IP_PKTINFO(True) if ":" not in host else IPV6_RECVPKTINFO(True)]
    with AncUDP.bind(host, 0, timeout=TIMEOUT, options=options) as b, AncUDP.bind(host, 0) as a:
        assert b.get_option(SO_TIMESTAMPNS) is True
        a.send_to(b"early", b.local_address)
        message = b.recv_msg(10, timestamps=True, destination=True)
        assert message.destination == PacketInfo(host, socket.if_nametoindex("lo"))
        assert message.timestamp is not None


def test_truncation_is_reported(pair: tuple[AncUDP, AncUDP]) -> None:
    a, b = pair
    a.send_to(b"x" * 50, b.local_address)
    message = b.recv_msg(10, timestamps=True)
    assert (message.data, message.truncated, message.size) == (b"x" * 10, True, 50)
    assert message.timestamp is not None


def test_timeout_and_flags_as_recv_from(pair: tuple[AncUDP, AncUDP]) -> None:
    _, b = pair
    with pytest.raises(WouldBlock):
        b.recv_msg(10, RecvFlags.DONTWAIT, timestamps=True)
    with pytest.raises(ValueError, match="max_bytes"):
        b.recv_msg(-1)


def test_unix_datagram_timestamps(tmp_path: Path) -> None:
    with (
        AncUnixgram.bind(str(tmp_path / "r"), timeout=TIMEOUT) as receiver,
        AncUnixgram.bind(str(tmp_path / "s"), timeout=TIMEOUT) as sender,
    ):
        before = time.time()
        sender.send_to(b"hi", receiver.local_address)
        message = receiver.recv_msg(10, timestamps=True)
        assert (message.data, message.address) == (b"hi", sender.local_address)
        assert message.timestamp is not None
        assert before - 1 <= message.timestamp.time <= time.time() + 1


def test_unix_datagram_refuses_pktinfo_and_errors(tmp_path: Path) -> None:
    with AncUnixgram.bind(str(tmp_path / "r"), timeout=TIMEOUT) as receiver:
        with pytest.raises(UnsupportedOption, match="IP_PKTINFO"):
            receiver.recv_msg(10, destination=True)
        with pytest.raises(UnsupportedOption, match="IP_RECVERR"):
            receiver.recv_msg(10, errors=True)
        with pytest.raises(UnsupportedOption, match="source"):
            receiver.send_from(b"x", receiver.local_address, "127.0.0.1")


# -- packet info and answering from the asked address -------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("127.0.0.1", id="127.0.0.1"),
        pytest.param(
            "127.0.0.2",
            id="127.0.0.2",
            marks=pytest.mark.skipif(not _lo_has("127.0.0.2"), reason="no 127.0.0.2"),
        ),
    ],
)
def test_multi_homed_server_answers_from_the_asked_address(target: str) -> None:
    with (
        AncUDP.bind("0.0.0.0", 0, timeout=TIMEOUT, options=[IP_PKTINFO(True)]) as server,
        AncUDP.bind("127.0.0.1", 0, timeout=TIMEOUT) as client,
    ):
        port = server.local_address.port
        client.send_to(b"ask", (target, port))
        request = server.recv_msg(100, destination=True)
        assert request.destination is not None
        assert request.destination.address == target
        assert request.destination.interface == socket.if_nametoindex("lo")
        server.send_from(b"answer", request.address, request.destination)
        reply = client.recv_from(100)
        assert (reply.data, reply.address) == (b"answer", InetAddress(target, port))
        # A plain address string works too; without a source the kernel picks 127.0.0.1.
        server.send_from(b"again", request.address, target)
        assert client.recv_from(100).address == InetAddress(target, port)


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")
def test_ipv6_packet_info_and_source() -> None:
    with (
        AncUDP.bind("::", 0, timeout=TIMEOUT, options=[IPV6_RECVPKTINFO(True)]) as server,
        AncUDP.bind("::1", 0, timeout=TIMEOUT) as client,
    ):
        port = server.local_address.port
        client.send_to(b"ask", ("::1", port))
        request = server.recv_msg(100, destination=True)
        assert request.destination == PacketInfo("::1", socket.if_nametoindex("lo"))
        server.send_from(b"answer", request.address, request.destination)
        assert client.recv_from(100).address == InetAddress("::1", port)


def test_send_from_refuses_a_bad_source(pair: tuple[AncUDP, AncUDP]) -> None:
    a, b = pair
    with pytest.raises(AddressError, match="source"):
        a.send_from(b"x", b.local_address, "not-an-ip")


# -- the error queue --------------------------------------------------------------------------------


def test_errors_need_ip_recverr_turned_on_by_the_caller(pair: tuple[AncUDP, AncUDP]) -> None:
    a, _ = pair
    with pytest.raises(UnsupportedOption, match=r"RECVERR\(True\)"):
        a.recv_msg(100, errors=True)


def test_icmp_port_unreachable_comes_back_typed(host: str) -> None:
    options = [IP_RECVERR(True) if ":" not in host else IPV6_RECVERR(True)]
    with AncUDP.bind(host, 0, timeout=TIMEOUT, options=options) as sender:
        port = _closed_port(host)
        sender.send_to(b"anyone?", (host, port))
        # The ICMP error may arrive after the send returns: recv_msg waits for it (no sleep).
        message = sender.recv_msg(100, errors=True)
        assert isinstance(message.error, QueuedError)
        assert message.error.errno == errno.ECONNREFUSED
        assert message.error.origin == (ErrorOrigin.ICMP6 if ":" in host else ErrorOrigin.ICMP)
        assert (message.error.type, message.error.code) == ((1, 4) if ":" in host else (3, 3))
        assert message.error.offender is not None
        assert message.error.offender.host == host
        assert message.error.strerror == "Connection refused"
        assert message.data == b"anyone?"
        assert message.address == InetAddress(host, port)
        # Dequeued: nothing is left, and the socket's pending error is cleared with it.
        with pytest.raises(WouldBlock):
            sender.recv_msg(100, RecvFlags.DONTWAIT, errors=True)


def test_without_errors_the_plain_receive_raises(host: str) -> None:
    options = [IP_RECVERR(True) if ":" not in host else IPV6_RECVERR(True)]
    with AncUDP.bind(host, 0, timeout=TIMEOUT, options=options) as sender:
        sender.send_to(b"anyone?", (host, _closed_port(host)))
        with pytest.raises(ConnectionRefused):
            sender.recv_from(100)
        # The error queue still holds the report after the plain receive consumed the socket error.
        message = sender.recv_msg(100, RecvFlags.DONTWAIT, errors=True)
        assert message.error is not None
        assert message.error.errno == errno.ECONNREFUSED


def test_a_datagram_is_returned_when_no_error_is_queued(pair: tuple[AncUDP, AncUDP]) -> None:
    a, b = pair
    b.set_option(IPV6_RECVERR if b.local_address.is_ipv6 else IP_RECVERR, True)
    a.send_to(b"fine", b.local_address)
    message = b.recv_msg(100, errors=True, timestamps=True)
    assert (message.data, message.error) == (b"fine", None)
    assert message.timestamp is not None


# -- closing -----------------------------------------------------------------------------------------


def test_recv_msg_after_close_raises_transport_closed() -> None:
    transport = AncUDP.bind("127.0.0.1", 0)
    transport.close()
    with pytest.raises(TransportClosed):
        transport.recv_msg(10, timestamps=True)
    with pytest.raises(TransportClosed):
        transport.send_from(b"x", ("127.0.0.1", 9), "127.0.0.1")


@pytest.mark.parametrize("timeout", [None, TIMEOUT], ids=["blocking", "timeout"])
@pytest.mark.parametrize("errors", [False, True], ids=["data", "errors"])
def test_close_wakes_a_blocked_recv_msg(background: Background, timeout: float | None, errors: bool) -> None:
    options = [IP_RECVERR(True)] if errors else []
    transport = AncUDP.bind("127.0.0.1", 0, timeout=timeout, options=options)
    about_to_call = threading.Event()

    def blocked() -> ReceivedMessage:
        about_to_call.set()
        return transport.recv_msg(100, timestamps=True, errors=errors)

    task = background.start(blocked, name="blocked-recv_msg")
    assert about_to_call.wait(TIMEOUT)
    assert wait_until_blocked(task.thread), "recv_msg returned before it blocked"
    transport.close()
    with pytest.raises(TransportClosed):
        task.result(TIMEOUT)


def test_recv_msg_is_a_known_error_verb() -> None:
    # Errors of recv_msg carry op="recv_msg" (the method's name, as for every other method).
    from transports.errors import OPS

    assert "recv_msg" in OPS
