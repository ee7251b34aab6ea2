"""The fault-injecting wrapper: short transfers, stalls, resets, lost and repeated datagrams."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

import transports
from conftest import TIMEOUT, Background
from transports import ConnectionReset, MemoryDatagramTransport, MemoryStreamTransport, UnexpectedEOF
from transports.testing.faults import Faults, FaultyDatagramTransport, FaultyTransport


def test_short_sends_and_reads_still_deliver_everything(background: Background) -> None:
    a, b = transports.socketpair()
    with FaultyTransport(a, max_send=7) as sender, FaultyTransport(b, max_recv=5) as receiver:
        receiver.timeout = TIMEOUT
        assert sender.send(b"0123456789") == 7
        assert receiver.recv(100) == b"01234"
        assert receiver.recv(100) == b"56"
        data = os.urandom(100_000)
        background.start(lambda: sender.send_all(data))
        assert receiver.recv_exactly(len(data)) == data


def test_reset_after_n_bytes() -> None:
    a, b = transports.socketpair()
    with FaultyTransport(a, reset_after=10) as sender, b:
        b.timeout = TIMEOUT
        with pytest.raises(ConnectionReset) as info:
            sender.send_all(b"x" * 25)
        assert info.value.bytes_sent == 10
        assert isinstance(info.value, ConnectionResetError)
        assert sender.closed
        assert b.recv_exactly(10) == b"x" * 10
        assert b.recv(10) == b""  # a Unix stream shows the close as end of stream


def test_reset_is_a_real_reset_on_tcp() -> None:
    with transports.TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        client = transports.TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT)
        with FaultyTransport(client, reset_after=3) as sender, listener.accept() as peer:
            peer.timeout = TIMEOUT
            with pytest.raises(ConnectionReset):
                sender.send_all(b"abcdef")
            assert peer.recv_exactly(3) == b"abc"
            with pytest.raises(ConnectionReset):
                peer.recv(10)


def test_dropped_and_duplicated_datagrams() -> None:
    a, b = MemoryDatagramTransport.pair()
    with FaultyTransport(a, drop_every=3, duplicate_every=4) as sender, b:
        b.timeout = TIMEOUT
        for number in range(1, 9):
            assert sender.send(str(number).encode()) == 1
        a.send(b"end")
        got = []
        while (message := b.recv(10)) != b"end":
            got.append(message.decode())
        # 3 and 6 are lost; 4 and 8 arrive twice.
        assert got == ["1", "2", "4", "4", "5", "7", "8", "8"]


def test_recv_exactly_reports_the_partial_data() -> None:
    a, b = MemoryStreamTransport.pair()
    with a, FaultyTransport(b, max_recv=2) as receiver:
        a.send_all(b"abc")
        a.close()
        receiver.timeout = TIMEOUT
        with pytest.raises(UnexpectedEOF) as info:
            receiver.recv_exactly(5)
        assert info.value.partial == b"abc"


def test_faults_are_checked() -> None:
    a, b = transports.socketpair()
    c, d = transports.socketpair("datagram")
    with a, b, c, d:
        with pytest.raises(ValueError, match="max_send"):
            Faults(max_send=0)
        with pytest.raises(ValueError, match="delay"):
            Faults(delay=-1)
        with pytest.raises(ValueError, match="stream"):
            FaultyTransport(c, max_recv=3)
        with pytest.raises(ValueError, match="datagrams"):
            FaultyTransport(a, drop_every=2)


def test_passes_through_what_it_does_not_wrap() -> None:
    a, b = transports.socketpair()
    with FaultyTransport(a, delay=0.001) as wrapped, b:
        assert wrapped.fileno() == a.fileno()
        assert wrapped.kind is a.kind
        assert wrapped.raw_socket is a.raw_socket  # through __getattr__
        assert isinstance(wrapped, transports.StreamTransport)


# -- the wrapper satisfies exactly the protocols of what it wraps (issue 14 item 8) ------------


@pytest.mark.parametrize(
    ("make", "stream", "datagram", "shuts_down"),
    [
        (transports.UnixStreamTransport.pair, True, False, True),
        (transports.UnixDatagramTransport.pair, False, True, False),
        (transports.UnixSeqpacketTransport.pair, False, False, True),
        (transports.MemoryStreamTransport.pair, True, False, True),
    ],
    ids=["unix-stream", "unixgram", "unixpacket", "memory"],
)
def test_faulty_wrapper_satisfies_exactly_the_inner_protocols(
    make: Callable[[], tuple[transports.Transport, transports.Transport]],
    stream: bool,
    datagram: bool,
    shuts_down: bool,
) -> None:
    a, b = make()
    with a, b:
        flaky = FaultyTransport(a)
        assert isinstance(flaky, transports.Transport)
        assert isinstance(flaky, transports.StreamTransport) is stream
        assert isinstance(flaky, transports.DatagramTransport) is datagram
        assert isinstance(a, transports.StreamTransport) is stream
        assert isinstance(a, transports.DatagramTransport) is datagram
        assert callable(getattr(flaky, "shutdown", None)) is shuts_down


def test_faulty_udp_is_no_stream() -> None:
    with transports.UDPTransport.bind("127.0.0.1", 0) as udp:
        flaky = FaultyTransport(udp, drop_every=2)
        assert not isinstance(flaky, transports.StreamTransport)
        assert isinstance(flaky, FaultyDatagramTransport)
        assert flaky.max_message_size == udp.max_message_size
