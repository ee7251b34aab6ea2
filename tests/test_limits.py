"""Message size limits at their exact boundaries (APUE 16.5 Data Transfer).

The contract suite already sends exactly ``max_message_size`` and one byte
more over every message kind (``test_largest_message_and_one_more``), and
test_udp.py and test_unix.py cover ``send_to`` over UDP and a Unix datagram
limit raised with ``SO_SNDBUF``. What is left is here: the receive side of
the boundary, ``send_to`` on Unix datagrams, seqpacket following its send
buffer, and the limit as seen through the URL entry points. The framing
limits (``max_size``, ``max_length``) are in test_framing.py.
"""

from __future__ import annotations

import pytest

import transports
from conftest import TIMEOUT, Pair, needs_ipv6
from transports import (
    DatagramTransport,
    MessageTooLarge,
    MessageTruncated,
    RecvFlags,
    UnixDatagramTransport,
    UnixSeqpacketTransport,
    WouldBlock,
)
from transports.options import SO_SNDBUF


def test_a_buffer_of_exactly_the_message_size_is_enough(message_pair: Pair) -> None:
    a, b = message_pair.a, message_pair.b
    message = bytes(range(250)) * 4
    a.send(message)
    assert b.recv(1000) == message
    a.send(message)
    with pytest.raises(MessageTruncated) as info:
        b.recv(999)
    assert info.value.size == 1000
    assert info.value.data == message[:999]


def test_unix_datagram_send_to_at_the_limit() -> None:
    with (
        UnixDatagramTransport.bind(None, timeout=TIMEOUT) as a,
        UnixDatagramTransport.bind(None, timeout=TIMEOUT) as b,
    ):
        limit = a.max_message_size
        assert limit == a.get_option(SO_SNDBUF) - 32
        assert a.send_to(bytes(limit), b.local_address) == limit
        datagram = b.recv_from(limit)
        assert (len(datagram.data), datagram.truncated, datagram.address) == (limit, False, a.local_address)
        with pytest.raises(MessageTooLarge) as info:
            a.send_to(bytes(limit + 1), b.local_address)
        err = info.value
        assert (err.limit, err.size, err.bytes_sent, err.op) == (limit, limit + 1, 0, "send_to")
        assert f"limit {limit} bytes" in str(err)
        with pytest.raises(WouldBlock):
            b.recv_from(limit + 1, RecvFlags.DONTWAIT)


def test_seqpacket_limit_follows_the_send_buffer() -> None:
    a, b = UnixSeqpacketTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        before = a.max_message_size
        a.set_option(SO_SNDBUF, 300_000)
        limit = a.max_message_size
        assert limit == a.get_option(SO_SNDBUF) - 32
        assert limit > before
        assert a.send(bytes(limit)) == limit
        assert len(b.recv(limit)) == limit
        with pytest.raises(MessageTooLarge) as info:
            a.send(bytes(limit + 1))
        assert (info.value.limit, info.value.size) == (limit, limit + 1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("udp://127.0.0.1:0", 65507),
        pytest.param("udp://[::1]:0", 65527, marks=needs_ipv6),
        ("unixgram:", None),
    ],
)
def test_limit_through_the_url_api(url: str, expected: int | None) -> None:
    with transports.bind(url, timeout=TIMEOUT) as transport:
        assert isinstance(transport, DatagramTransport)
        limit = transport.max_message_size
        if expected is None:
            assert isinstance(transport, UnixDatagramTransport)
            expected = transport.get_option(SO_SNDBUF) - 32
        assert limit == expected
        with pytest.raises(MessageTooLarge) as info:
            transport.send_to(bytes(limit + 1), transport.local_address)
        assert info.value.limit == limit
