"""What the built-in kinds promise beyond the conformance kit: their classes, errno values, limits and refusals.

The contract every transport keeps lives in one place, the kit
(:mod:`transports.testing`), and tests/test_kit_kinds.py runs each built-in
kind through it on both faces. What is left here is ours alone: the kind and
protocols of each pair, that ends are sockets, the exact size limits and the
table of refused flags per network, the ``errno``/``op`` fields and messages
of the errors, and transfers larger than the kit makes. Each test takes the
``pair`` fixture of conftest.py (or a narrower one), so it runs once per kind.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import stat
from collections.abc import Callable

import pytest

from conftest import PAIR_NAMES, Background, Pair
from transports import (
    Datagram,
    DatagramTransport,
    Kind,
    Listener,
    MessageTooLarge,
    RecvFlags,
    SendFlags,
    StreamTransport,
    TCPTransport,
    Transport,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UDPTransport,
    UnexpectedEOF,
    UnixAddress,
    UnixDatagramTransport,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnsupportedFlag,
    WouldBlock,
)
from transports.options import SO_RCVBUF, SO_SNDBUF
from transports.unix import unix_stream_has_oob

MiB = 1 << 20

EXPECTED_KIND = {
    "tcp4": Kind.STREAM,
    "tcp6": Kind.STREAM,
    "unix": Kind.STREAM,
    "unix-socketpair": Kind.STREAM,
    "udp4": Kind.DATAGRAM,
    "udp6": Kind.DATAGRAM,
    "unixgram-socketpair": Kind.DATAGRAM,
    "unixgram-bound": Kind.DATAGRAM,
    "unixpacket": Kind.SEQPACKET,
    "unixpacket-socketpair": Kind.SEQPACKET,
}


def _streams(pair: Pair) -> tuple[StreamTransport, StreamTransport]:
    assert isinstance(pair.a, StreamTransport)
    assert isinstance(pair.b, StreamTransport)
    return pair.a, pair.b


def _datagrams(pair: Pair) -> tuple[DatagramTransport, DatagramTransport]:
    assert isinstance(pair.a, DatagramTransport)
    assert isinstance(pair.b, DatagramTransport)
    return pair.a, pair.b


Concrete = TCPTransport | UDPTransport | UnixStreamTransport | UnixDatagramTransport | UnixSeqpacketTransport


def _concrete(transport: Transport) -> Concrete:
    """The transport as its class, for what the protocols leave out (options)."""
    assert isinstance(transport, Concrete)
    return transport


def _max_message(transport: Transport) -> int:
    assert isinstance(transport, DatagramTransport | UnixSeqpacketTransport)
    return transport.max_message_size


def _payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# -- identity ---------------------------------------------------------------------


def test_kind_and_state(pair: Pair) -> None:
    assert pair.a.kind is EXPECTED_KIND[pair.name]
    assert pair.b.kind is EXPECTED_KIND[pair.name]
    assert not pair.a.closed
    assert not pair.b.closed


def test_fileno_is_an_open_socket(pair: Pair) -> None:
    fa, fb = pair.a.fileno(), pair.b.fileno()
    assert fa >= 0
    assert fb >= 0
    assert fa != fb
    assert stat.S_ISSOCK(os.fstat(fa).st_mode)
    assert stat.S_ISSOCK(os.fstat(fb).st_mode)


def test_runtime_protocols(pair: Pair) -> None:
    for end in (pair.a, pair.b):
        assert isinstance(end, Transport)
        assert not isinstance(end, Listener)
        if pair.kind is Kind.STREAM:
            assert isinstance(end, StreamTransport)
            assert not isinstance(end, DatagramTransport)
        elif pair.kind is Kind.DATAGRAM:
            assert isinstance(end, DatagramTransport)
            assert not isinstance(end, StreamTransport)
        else:
            # Seqpacket keeps boundaries over a connection: neither narrower protocol.
            assert not isinstance(end, StreamTransport)
            assert not isinstance(end, DatagramTransport)


# -- data transfer ------------------------------------------------------------------

SMALL_SIZES = [0, 1, 2, 17, 512, 1500, 4096, 9000, 32768, 60000]


def test_round_trip_random_sizes(pair: Pair) -> None:
    rng = random.Random(f"round-trip-{pair.name}")
    limit = 60000 if pair.is_stream else _max_message(pair.a)
    sizes = [rng.randrange(limit + 1) for _ in range(20)]
    for index, size in enumerate(sizes):
        data = _payload(size, index)
        if pair.is_stream:
            a, b = _streams(pair)
            a.send_all(data)
            assert b.recv_exactly(size) == data
        else:
            assert pair.a.send(data) == size
            assert pair.b.recv(limit) == data


@pytest.mark.slow
def test_multi_mib_stream(stream_pair: Pair, background: Background) -> None:
    pair = stream_pair
    a, b = _streams(pair)
    data = os.urandom(12 * MiB + 7)
    sender = background.start(lambda: a.send_all(data), "sender")
    received = b.recv_exactly(len(data))
    sender.result()
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest()


def test_largest_message_and_one_more(message_pair: Pair) -> None:
    pair = message_pair
    a, b = pair.a, pair.b
    limit = _max_message(a)
    expected = {"udp4": 65507, "udp6": 65527}
    if pair.name in expected:
        assert limit == expected[pair.name]
    else:
        assert limit == _concrete(a).get_option(SO_SNDBUF) - 32
    data = _payload(limit, 1)
    assert a.send(data) == limit
    assert b.recv(limit) == data
    with pytest.raises(MessageTooLarge) as info:
        a.send(bytes(limit + 1))
    assert info.value.limit == limit
    assert info.value.size == limit + 1
    assert info.value.bytes_sent == 0
    # Nothing of the refused message was sent.
    with pytest.raises(WouldBlock):
        b.recv(limit + 1, RecvFlags.DONTWAIT)


def _shrink_buffers(pair: Pair) -> None:
    # Small buffers: a multi-MiB transfer can never sit in the kernel all at once,
    # so a receive that returns all of it must have waited for later sends.
    _concrete(pair.a).set_option(SO_SNDBUF, 32768)
    _concrete(pair.b).set_option(SO_RCVBUF, 32768)


def test_waitall_waits_for_the_whole_buffer(stream_pair: Pair, background: Background) -> None:
    pair = stream_pair
    a, b = _streams(pair)
    _shrink_buffers(pair)
    data = os.urandom(4 * MiB)
    sender = background.start(lambda: a.send_all(data), "sender")
    received = b.recv(len(data), RecvFlags.WAITALL)
    sender.result()
    assert len(received) == len(data)
    assert received == data


def test_waitall_recv_into(stream_pair: Pair, background: Background) -> None:
    pair = stream_pair
    a, b = _streams(pair)
    _shrink_buffers(pair)
    data = os.urandom(2 * MiB)
    buffer = bytearray(len(data) + 100)
    sender = background.start(lambda: a.send_all(data), "sender")
    count = b.recv_into(buffer, len(data), RecvFlags.WAITALL)
    sender.result()
    assert count == len(data)
    assert buffer[:count] == data
    assert buffer[count:] == bytes(100)


def test_dontwait_on_empty_socket(pair: Pair) -> None:
    # The timeout is 5 s: DONTWAIT must not wait for it.
    with pytest.raises(WouldBlock) as info:
        pair.b.recv(10, RecvFlags.DONTWAIT)
    assert isinstance(info.value, BlockingIOError)
    assert info.value.errno in {errno.EAGAIN, errno.EWOULDBLOCK}
    assert info.value.op == "recv"
    with pytest.raises(BlockingIOError):
        pair.b.recv_into(bytearray(10), 0, RecvFlags.DONTWAIT)
    if isinstance(pair.b, DatagramTransport):
        with pytest.raises(WouldBlock):
            pair.b.recv_from(10, RecvFlags.DONTWAIT)
    # The timeout is back in force afterwards.
    assert pair.b.timeout == 5.0


def test_recv_into_with_nbytes(pair: Pair) -> None:
    buffer = bytearray(b"." * 20)
    if pair.is_stream:
        a, b = _streams(pair)
        a.send_all(b"abcdefghij")
        assert b.recv_into(buffer, 4) == 4
        assert bytes(buffer) == b"abcd" + b"." * 16
        assert b.recv_exactly(6) == b"efghij"
    else:
        pair.a.send(b"abcd")
        assert pair.b.recv_into(buffer, 10) == 4
        assert bytes(buffer) == b"abcd" + b"." * 16
        pair.a.send(b"wxyz")
        assert pair.b.recv_into(buffer) == 4
        assert bytes(buffer[:4]) == b"wxyz"


# -- truncation (message kinds) --------------------------------------------------------


def test_recv_from_returns_truncation_as_result(datagram_pair: Pair) -> None:
    pair = datagram_pair
    a, b = _datagrams(pair)
    a.send(b"0123456789" * 3)
    datagram = b.recv_from(8)
    assert datagram == Datagram(b"01234567", a.local_address, truncated=True, size=30)
    a.send(b"fits")
    datagram = b.recv_from(100)
    assert datagram == Datagram(b"fits", a.local_address, truncated=False, size=4)


# Socketpair ends are unnamed: there is no address to send to.
@pytest.mark.parametrize("datagram_pair", ["udp4", "udp6", "unixgram-bound"], indirect=True)
def test_send_to_the_peer_address(datagram_pair: Pair) -> None:
    a, b = _datagrams(datagram_pair)
    assert a.send_to(b"addressed", b.local_address) == 9
    assert b.recv_from(100).data == b"addressed"


# -- flags the kind refuses ----------------------------------------------------------

REFUSED_SEND = {
    "tcp": [SendFlags.EOR, SendFlags.CONFIRM],
    "unix": [SendFlags.MORE, SendFlags.CONFIRM, SendFlags.EOR, SendFlags.DONTROUTE],
    "udp": [SendFlags.OOB, SendFlags.EOR],
    "unixgram": [SendFlags.OOB, SendFlags.MORE, SendFlags.EOR],
    "unixpacket": [SendFlags.OOB, SendFlags.MORE, SendFlags.CONFIRM],
}
REFUSED_RECV = {
    "tcp": [],
    "unix": [] if unix_stream_has_oob() else [RecvFlags.OOB],
    "udp": [RecvFlags.OOB, RecvFlags.WAITALL],
    "unixgram": [RecvFlags.OOB, RecvFlags.WAITALL],
    "unixpacket": [RecvFlags.OOB, RecvFlags.WAITALL],
}
if not unix_stream_has_oob():
    REFUSED_SEND["unix"].append(SendFlags.OOB)


def _network_of(pair_name: str) -> str:
    return pair_name.split("-", maxsplit=1)[0].rstrip("46")


def _network(pair: Pair) -> str:
    return _network_of(pair.name)


def test_refused_send_flags(pair: Pair) -> None:
    network = _network(pair)
    for flag in REFUSED_SEND[network]:
        with pytest.raises(UnsupportedFlag) as info:
            pair.a.send(b"never sent", flag | SendFlags.DONTWAIT)
        assert isinstance(info.value, ValueError)
        assert info.value.flag == flag
        assert info.value.network == network
        assert f"SendFlags.{flag.name}" in str(info.value)
        assert network in str(info.value)
        if isinstance(pair.a, StreamTransport):
            with pytest.raises(UnsupportedFlag):
                pair.a.send_all(b"never sent", flag)
    # Nothing reached the peer.
    with pytest.raises(WouldBlock):
        pair.b.recv(100, RecvFlags.DONTWAIT)


@pytest.mark.parametrize(
    "pair", [name for name in PAIR_NAMES if REFUSED_RECV[_network_of(name)]], indirect=True
)
def test_refused_recv_flags(pair: Pair) -> None:
    refused = REFUSED_RECV[_network(pair)]
    pair.a.send(b"stays queued")
    assert pair.b.recv(100, RecvFlags.PEEK) == b"stays queued"
    for flag in refused:
        with pytest.raises(UnsupportedFlag, match=f"RecvFlags.{flag.name}"):
            pair.b.recv(100, flag)
        with pytest.raises(UnsupportedFlag):
            pair.b.recv_into(bytearray(100), 0, flag)
        if isinstance(pair.b, DatagramTransport):
            with pytest.raises(UnsupportedFlag):
                pair.b.recv_from(100, flag)
    assert pair.b.recv(100) == b"stays queued"


def test_flags_are_checked_before_any_system_call(pair: Pair) -> None:
    # On a closed transport a system call would fail with EBADF: the flag check comes first.
    network = _network(pair)
    pair.a.close()
    with pytest.raises(UnsupportedFlag):
        pair.a.send(b"x", REFUSED_SEND[network][0])
    if REFUSED_RECV[network]:
        with pytest.raises(UnsupportedFlag):
            pair.a.recv(1, REFUSED_RECV[network][0])


# -- half-close, timeouts, end of stream -----------------------------------------------------


def test_half_close(connected_pair: Pair) -> None:
    pair = connected_pair
    assert isinstance(pair.a, StreamTransport | UnixSeqpacketTransport)
    pair.a.shutdown("write")
    assert pair.b.recv(100) == b""
    assert pair.b.recv(100) == b""
    # The other direction still works: the half-closed end reads the answer.
    pair.b.send(b"answer")
    assert pair.a.recv(100) == b"answer"
    with pytest.raises(TransportError) as info:
        pair.a.send(b"after shutdown")
    assert isinstance(info.value, BrokenPipeError)
    with pytest.raises(ValueError, match="shutdown how"):
        pair.a.shutdown("sideways")  # type: ignore[arg-type]


def test_recv_times_out(pair: Pair) -> None:
    pair.b.timeout = 0.05
    with pytest.raises(TransportTimeout) as info:
        pair.b.recv(10)
    assert isinstance(info.value, TimeoutError)
    assert info.value.op == "recv"
    assert "0.05" in str(info.value)
    with pytest.raises(TimeoutError):
        pair.b.recv_into(bytearray(10))


def test_recv_exactly_unexpected_eof(stream_pair: Pair) -> None:
    a, b = _streams(stream_pair)
    a.send_all(b"partial")
    a.close()
    with pytest.raises(UnexpectedEOF) as info:
        b.recv_exactly(100)
    assert info.value.partial == b"partial"
    assert info.value.expected == 100
    assert isinstance(info.value, EOFError)
    assert isinstance(info.value, TransportError)
    assert "7 of 100" in str(info.value)


# -- closing ------------------------------------------------------------------------------


def test_close_twice_is_harmless(pair: Pair) -> None:
    with pair.a as a:
        a.close()
        a.close()
    assert pair.a.closed
    assert pair.a.fileno() == -1
    assert "closed" in repr(pair.a)
    # Protocol checks look members up statically: a closed transport is still one.
    assert isinstance(pair.a, Transport)
    assert not pair.b.closed


def test_operations_after_close_raise_transport_closed(pair: Pair) -> None:
    a = pair.a
    peer = pair.b.local_address
    a.close()
    calls: dict[str, Callable[[], object]] = {
        "send": lambda: a.send(b"x"),
        "recv": lambda: a.recv(1),
        "recv_into": lambda: a.recv_into(bytearray(1)),
        "local_address": lambda: a.local_address,
        "remote_address": lambda: a.remote_address,
    }
    if isinstance(a, StreamTransport):
        stream = a
        calls["send_all"] = lambda: stream.send_all(b"x")
        calls["recv_exactly"] = lambda: stream.recv_exactly(1)
        calls["shutdown"] = stream.shutdown
    if isinstance(a, DatagramTransport) and not (isinstance(peer, UnixAddress) and peer.unnamed):
        datagram = a
        calls["send_to"] = lambda: datagram.send_to(b"x", peer)
        calls["recv_from"] = lambda: datagram.recv_from(1)
    for name, call in calls.items():
        with pytest.raises(TransportClosed) as info:
            call()
        assert isinstance(info.value, OSError), name
        assert info.value.errno == errno.EBADF, name
