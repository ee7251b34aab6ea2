"""SendFlags and RecvFlags: the platform's MSG_* values, and refusing what does not fit (APUE 16.5)."""

from __future__ import annotations

import socket
import sys
from types import FrameType

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
from transports.flags import FLAG_TABLE, NETWORKS, FlagRule, allowed_masks, check_flags, unavailable_flags
from transports.memory import MemoryDatagramTransport, MemoryStreamTransport
from transports.unix import unix_stream_has_oob

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
    assert not isinstance(err, OSError)  # a caller mistake: an `except OSError` retry must not catch it
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


# -- the table: one row per flag, masks per network ------------------------------------------------

ACCEPTED_RECV: dict[str, RecvFlags] = {
    "tcp": RecvFlags.OOB | RecvFlags.PEEK | RecvFlags.WAITALL | RecvFlags.DONTWAIT,
    "udp": RecvFlags.PEEK | RecvFlags.DONTWAIT,
    "unixgram": RecvFlags.PEEK | RecvFlags.DONTWAIT,
    "unixpacket": RecvFlags.PEEK | RecvFlags.DONTWAIT,
    "memory": RecvFlags.PEEK | RecvFlags.WAITALL | RecvFlags.DONTWAIT,
    "memorygram": RecvFlags.PEEK | RecvFlags.DONTWAIT,
}
MEMORY_SEND = SendFlags.DONTWAIT | SendFlags.NOSIGNAL
CLASSES = [
    TCPTransport,
    UDPTransport,
    UnixStreamTransport,
    UnixDatagramTransport,
    UnixSeqpacketTransport,
    MemoryStreamTransport,
    MemoryDatagramTransport,
]


def test_one_row_per_member() -> None:
    rows: dict[tuple[str, str], FlagRule] = {(row.direction, row.name): row for row in FLAG_TABLE}
    assert len(rows) == len(FLAG_TABLE)
    members = [("send", m) for m in SendFlags if m] + [("recv", m) for m in RecvFlags if m]
    assert sorted((d, m.name or "") for d, m in members) == sorted(rows)
    for direction, member in members:
        row = rows[direction, member.name or ""]
        assert row.constant == f"MSG_{member.name}"
        assert row.value == getattr(socket, row.constant, None)
        if row.value is not None:
            assert int(member) == row.value
        assert row.networks <= set(NETWORKS), row
        # Refused somewhere: the row says why, in words the error can use.
        assert row.networks == set(NETWORKS) or row.why_not, row


def test_masks_are_what_each_kind_accepted_before() -> None:
    oob = unix_stream_has_oob()
    expected = {
        **{name: (flags, ACCEPTED_RECV[name]) for name, flags in ACCEPTED_SEND.items()},
        "unix": (
            SendFlags.DONTWAIT | SendFlags.NOSIGNAL | (SendFlags.OOB if oob else SendFlags.NONE),
            RecvFlags.PEEK
            | RecvFlags.WAITALL
            | RecvFlags.DONTWAIT
            | (RecvFlags.OOB if oob else RecvFlags.NONE),
        ),
        "memory": (MEMORY_SEND, ACCEPTED_RECV["memory"]),
        "memorygram": (MEMORY_SEND, ACCEPTED_RECV["memorygram"]),
    }
    assert set(expected) == set(NETWORKS)
    for network, (send, recv) in expected.items():
        assert allowed_masks(network) == (int(send), int(recv)), network
        assert type(allowed_masks(network)[0]) is int  # plain ints: no enum arithmetic per call
    assert allowed_masks("no-such-network") == (0, 0)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_each_class_takes_its_masks_from_the_table(cls: type[TCPTransport]) -> None:
    assert (cls._send_allowed, cls._recv_allowed) == allowed_masks(cls.network)


def test_a_refusal_says_why_in_the_rows_words() -> None:
    with UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as udp:
        with pytest.raises(UnsupportedFlag, match=r"^SendFlags.OOB cannot be honoured by a udp") as info:
            udp.send_to(b"x", udp.local_address, SendFlags.OOB)
        assert "out-of-band data exists only on TCP" in str(info.value)
        assert "flags it accepts: " in str(info.value)
        with pytest.raises(UnsupportedFlag, match="only a byte stream can fill a buffer") as recv_info:
            udp.recv(1, RecvFlags.WAITALL | RecvFlags.PEEK)
        assert recv_info.value.flag == RecvFlags.WAITALL
    p, q = UnixSeqpacketTransport.pair()
    with p, q, pytest.raises(UnsupportedFlag) as both:
        p.send(b"x", SendFlags.MORE | SendFlags.CONFIRM)
    message = str(both.value)
    assert "only TCP and UDP cork data" in message
    assert "only UDP confirms" in message


def test_unix_stream_oob_follows_the_kernel_probe() -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        if unix_stream_has_oob():
            assert a.send(b"!", SendFlags.OOB) == 1
            assert b.recv(1, RecvFlags.OOB) == b"!"
        else:
            with pytest.raises(UnsupportedFlag, match="this kernel does not support MSG_OOB on unix"):
                a.send(b"!", SendFlags.OOB)


def _python_calls(call: object) -> int:
    """How many Python-level functions *call* (a zero-argument callable) runs besides itself."""
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.append(frame.f_code.co_name)

    assert callable(call)
    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return len(seen) - 1  # the call itself


def test_accepting_a_flag_is_int_arithmetic_not_enum_arithmetic() -> None:
    # Before the table, each flag went through ~9 Python frames of IntFlag
    # arithmetic; accepting one must now run no Python code at all.
    send_flags, recv_flags = SendFlags.DONTWAIT | SendFlags.NOSIGNAL, RecvFlags.PEEK | RecvFlags.DONTWAIT
    a, b = UnixStreamTransport.pair()
    with a, b:
        assert _python_calls(lambda: a._send_bits(send_flags)) == 1
        assert _python_calls(lambda: b._recv_bits(recv_flags)) == 1
        assert a._send_bits(SendFlags.DONTWAIT) == socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL
        assert type(b._recv_bits(RecvFlags.PEEK)) is int
    udp_mask = allowed_masks("udp")[0]
    assert _python_calls(lambda: check_flags(SendFlags.DONTWAIT, SendFlags, udp_mask, "udp")) == 1
