"""The fault-injecting wrapper: short transfers, stalls, resets, lost and repeated datagrams."""

from __future__ import annotations

import os

import pytest

import transports
from conftest import TIMEOUT, Background
from transports import ConnectionReset, MemoryDatagramTransport, MemoryStreamTransport, UnexpectedEOF
from transports.faults import Faults, FaultyTransport


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
