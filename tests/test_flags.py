"""SendFlags and RecvFlags: the platform's MSG_* values, and refusing what does not fit (APUE 16.5)."""

from __future__ import annotations

import socket

import pytest

from conftest import TIMEOUT
from transports import (
    RecvFlags,
    SendFlags,
    TCPListener,
    TCPTransport,
    UDPTransport,
    UnixDatagramTransport,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnsupportedFlag,
)
from transports.flags import check_flags, unavailable_flags

ALL_FLAGS: list[SendFlags | RecvFlags] = [*SendFlags, *RecvFlags]


@pytest.mark.parametrize("flag", ALL_FLAGS, ids=lambda f: f"{type(f).__name__}.{f.name}")
def test_values_are_the_platform_constants(flag: SendFlags | RecvFlags) -> None:
    assert flag.name is not None
    constant = getattr(socket, f"MSG_{flag.name}", None)
    if constant is None:
        assert f"MSG_{flag.name}" in unavailable_flags()
    else:
        assert int(flag) == int(constant)
        assert f"MSG_{flag.name}" not in unavailable_flags()


def test_linux_has_every_flag() -> None:
    if not hasattr(socket, "MSG_NOSIGNAL"):
        pytest.skip("not a Linux socket module")
    assert unavailable_flags() == frozenset()


def test_members_are_distinct_and_composable() -> None:
    for flags in (SendFlags, RecvFlags):
        values = [int(member) for member in flags if member]
        assert len(values) == len(set(values)), f"{flags.__name__} has aliases"
    combined = SendFlags.DONTWAIT | SendFlags.MORE
    assert SendFlags.MORE in combined
    assert SendFlags.OOB not in combined
    assert int(combined) == socket.MSG_DONTWAIT | socket.MSG_MORE


def test_truncation_is_a_result_not_a_flag() -> None:
    names = {member.name for member in RecvFlags}
    assert "TRUNC" not in names
    assert "CTRUNC" not in names


def test_recv_flags_passed_to_send_is_a_type_error() -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        with pytest.raises(TypeError, match="expected SendFlags, got RecvFlags"):
            a.send(b"x", RecvFlags.DONTWAIT)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="SendFlags"):
            a.send_all(b"x", RecvFlags.PEEK)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="expected RecvFlags, got SendFlags"):
            b.recv(1, SendFlags.DONTWAIT)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="RecvFlags"):
            b.recv_into(bytearray(1), 0, SendFlags.DONTWAIT)  # type: ignore[arg-type]
        # A bare int is not a flag either: it would bypass the kind's checks.
        with pytest.raises(TypeError, match="SendFlags"):
            a.send(b"x", socket.MSG_DONTWAIT)  # type: ignore[arg-type]
        # Nothing was sent by any of the refused calls.
        b.timeout = 0.05
        with pytest.raises(TimeoutError):
            b.recv(1)


def test_datagram_send_to_checks_flag_types() -> None:
    with UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as udp:
        with pytest.raises(TypeError, match="SendFlags"):
            udp.send_to(b"x", udp.local_address, RecvFlags.PEEK)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="RecvFlags"):
            udp.recv_from(1, SendFlags.DONTWAIT)  # type: ignore[arg-type]


def test_refusal_names_only_the_refused_flag() -> None:
    with pytest.raises(UnsupportedFlag) as info:
        check_flags(SendFlags.DONTWAIT | SendFlags.OOB, SendFlags, int(SendFlags.DONTWAIT), "udp")
    err = info.value
    assert err.flag == SendFlags.OOB
    assert err.network == "udp"
    assert isinstance(err, ValueError)
    assert isinstance(err, OSError)
    message = str(err)
    assert "SendFlags.OOB" in message
    assert "udp" in message
    assert "SendFlags.DONTWAIT" in message  # listed among the accepted ones


def test_several_refused_flags_are_all_named() -> None:
    with pytest.raises(UnsupportedFlag) as info:
        check_flags(RecvFlags.OOB | RecvFlags.WAITALL, RecvFlags, int(RecvFlags.PEEK), "unixgram")
    assert info.value.flag == RecvFlags.OOB | RecvFlags.WAITALL
    assert "RecvFlags.OOB" in str(info.value)
    assert "RecvFlags.WAITALL" in str(info.value)


ACCEPTED_SEND: dict[str, SendFlags] = {
    "tcp": SendFlags.OOB | SendFlags.DONTROUTE | SendFlags.DONTWAIT | SendFlags.NOSIGNAL | SendFlags.MORE,
    "udp": SendFlags.DONTROUTE | SendFlags.DONTWAIT | SendFlags.NOSIGNAL | SendFlags.MORE | SendFlags.CONFIRM,
    "unixgram": SendFlags.DONTWAIT | SendFlags.NOSIGNAL,
    "unixpacket": SendFlags.DONTWAIT | SendFlags.NOSIGNAL | SendFlags.EOR,
}


def test_every_accepted_send_flag_reaches_the_kernel() -> None:
    # Each accepted flag (with DONTWAIT, so nothing can block) really sends.
    with (
        TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener,
        TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT) as client,
        listener.accept() as server,
    ):
        server.timeout = TIMEOUT
        for flag in ACCEPTED_SEND["tcp"]:
            if flag is SendFlags.OOB:
                continue  # urgent data is tested in test_tcp.py
            assert client.send(b"t", flag | SendFlags.DONTWAIT) == 1
            client.send(b"!")  # flushes what MORE corked
            assert server.recv_exactly(2) == b"t!"
    with UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as udp:
        for flag in ACCEPTED_SEND["udp"]:
            assert udp.send_to(b"u", udp.local_address, flag) == 1
            udp.send_to(b"!", udp.local_address)
            if flag is SendFlags.MORE:
                # MORE corks the datagram: the next send completes the same one.
                assert udp.recv(10) == b"u!"
            else:
                assert [udp.recv(10), udp.recv(10)] == [b"u", b"!"]
    a, b = UnixDatagramTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        for flag in ACCEPTED_SEND["unixgram"]:
            assert a.send(b"g", flag) == 1
            assert b.recv(1) == b"g"
    p, q = UnixSeqpacketTransport.pair()
    with p, q:
        q.timeout = TIMEOUT
        for flag in ACCEPTED_SEND["unixpacket"]:
            assert p.send(b"p", flag) == 1
            assert q.recv(1) == b"p"
