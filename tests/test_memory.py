"""The in-memory transports: the socket semantics without sockets (memory://, memorygram://)."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

import transports
from conftest import TIMEOUT, Background
from peak_rss import run_measured
from transports import (
    AddressError,
    AddressInUse,
    BrokenPipe,
    ConnectionRefused,
    DatagramTransport,
    MemoryDatagramTransport,
    MemoryListener,
    MemoryStreamTransport,
    MessageTooLarge,
    MessageTruncated,
    NamedAddress,
    NotConnected,
    RecvFlags,
    SendFlags,
    StreamTransport,
    Transport,
    TransportClosed,
    TransportTimeout,
    UnexpectedEOF,
    UnsupportedFlag,
    WouldBlock,
)
from transports.protocols import Listener
from transports.testing import ListenerCheck, MessageCheck, StreamCheck


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def stream_pair() -> Iterator[tuple[MemoryStreamTransport, MemoryStreamTransport]]:
    name = unique()
    with transports.listen(f"memory://{name}", timeout=TIMEOUT) as listener:
        client = transports.connect(f"memory://{name}", timeout=TIMEOUT)
        assert isinstance(client, MemoryStreamTransport)
        assert isinstance(listener, MemoryListener)
        with client, listener.accept() as server:
            server.timeout = TIMEOUT
            yield client, server


def test_the_url_entry_points_give_memory_transports(
    stream_pair: tuple[MemoryStreamTransport, MemoryStreamTransport],
) -> None:
    client, server = stream_pair
    assert isinstance(client, StreamTransport)
    assert isinstance(client, Transport)
    assert client.kind is transports.Kind.STREAM
    assert client.remote_address == server.local_address
    assert isinstance(client.local_address, NamedAddress)
    assert client.local_address.url().startswith("memory://")


def test_big_transfer_in_both_directions(
    stream_pair: tuple[MemoryStreamTransport, MemoryStreamTransport], background: Background
) -> None:
    client, server = stream_pair
    data = os.urandom(3 * 1024 * 1024 + 11)  # larger than the buffer: the sender must wait
    background.start(lambda: client.send_all(data))
    assert hashlib.sha256(server.recv_exactly(len(data))).digest() == hashlib.sha256(data).digest()
    server.send_all(b"reply")
    assert client.recv_exactly(5) == b"reply"


def test_send_takes_what_fits_and_dontwait_refuses_when_full() -> None:
    a, b = MemoryStreamTransport.pair(capacity=10)
    with a, b:
        assert a.send(b"x" * 25) == 10
        with pytest.raises(WouldBlock):
            a.send(b"y", SendFlags.DONTWAIT)
        a.timeout = 0.05
        with pytest.raises(TransportTimeout) as info:
            a.send_all(b"more")
        assert info.value.bytes_sent == 0
        assert b.recv(100) == b"x" * 10


def test_peek_waitall_dontwait_and_timeout(
    stream_pair: tuple[MemoryStreamTransport, MemoryStreamTransport], background: Background
) -> None:
    client, server = stream_pair
    with pytest.raises(WouldBlock):
        server.recv(10, RecvFlags.DONTWAIT)
    client.send_all(b"abcdef")
    assert server.recv(3, RecvFlags.PEEK) == b"abc"
    assert server.recv(3) == b"abc"
    ready = threading.Event()

    def late() -> None:
        ready.wait(TIMEOUT)
        client.send_all(b"ghij")

    background.start(late)
    ready.set()
    assert server.recv(7, RecvFlags.WAITALL) == b"defghij"
    server.timeout = 0.05
    with pytest.raises(TransportTimeout):
        server.recv(1)


def test_half_close_and_close(stream_pair: tuple[MemoryStreamTransport, MemoryStreamTransport]) -> None:
    client, server = stream_pair
    client.send_all(b"last words")
    client.shutdown("write")
    assert server.recv_exactly(10) == b"last words"
    assert server.recv(10) == b""
    server.send_all(b"still open the other way")
    assert client.recv_exactly(24) == b"still open the other way"
    with pytest.raises(BrokenPipe):
        client.send(b"after shutdown")
    server.close()
    with pytest.raises(UnexpectedEOF) as info:
        client.recv_exactly(4)
    assert info.value.partial == b""
    server.close()  # closing twice is harmless
    with pytest.raises(TransportClosed):
        server.recv(1)


def test_sending_to_a_closed_peer_is_a_broken_pipe() -> None:
    a, b = MemoryStreamTransport.pair()
    with a, b:
        b.close()
        with pytest.raises(BrokenPipe, match="peer has closed") as info:
            a.send(b"to a closed peer")
        assert isinstance(info.value, BrokenPipeError)


def test_recv_exactly_keeps_the_partial_data_on_eof() -> None:
    a, b = MemoryStreamTransport.pair()
    with a, b:
        a.send_all(b"abc")
        a.close()
        b.timeout = TIMEOUT
        with pytest.raises(UnexpectedEOF) as info:
            b.recv_exactly(5)
        assert info.value.partial == b"abc"
        assert info.value.expected == 5


def test_flags_it_cannot_honour_are_refused() -> None:
    a, b = MemoryStreamTransport.pair()
    with a, b:
        with pytest.raises(UnsupportedFlag, match="OOB"):
            a.send(b"!", SendFlags.OOB)
        with pytest.raises(UnsupportedFlag):
            b.recv(1, RecvFlags.OOB)


def test_no_descriptor() -> None:
    a, b = MemoryStreamTransport.pair()
    with a, b, pytest.raises(io.UnsupportedOperation):
        a.fileno()


def test_listener_rules(background: Background) -> None:
    name = unique()
    with MemoryListener(name, backlog=1) as listener:
        with pytest.raises(AddressInUse):
            MemoryListener(name)
        first = transports.connect(f"memory://{name}", timeout=TIMEOUT)
        with first, pytest.raises(ConnectionRefused, match="backlog"):
            transports.connect(f"memory://{name}", timeout=TIMEOUT)
        accepted = listener.accept()
        accepted.close()
        listener.timeout = 0.05
        with pytest.raises(TransportTimeout):
            listener.accept()
        listener.timeout = None
        started = threading.Event()
        seen: list[MemoryStreamTransport] = []

        def serve() -> None:
            started.set()
            seen.extend(listener)  # stops when the listener closes

        background.start(serve)
        started.wait(TIMEOUT)
        listener.close()
    assert seen == []
    with pytest.raises(ConnectionRefused, match="no memory listener"):
        transports.connect(f"memory://{name}")
    MemoryListener(name).close()  # the name is free again


def test_datagrams_keep_boundaries_and_report_truncation() -> None:
    name = unique()
    with (
        transports.bind(f"memorygram://{name}", timeout=TIMEOUT) as server,
        transports.connect(f"memorygram://{name}", timeout=TIMEOUT) as client,
    ):
        assert isinstance(server, DatagramTransport)
        client.send(b"one")
        client.send(b"")
        client.send(b"three!")
        first = server.recv_from(100)
        assert first.data == b"one"
        assert first.address == client.local_address
        assert server.recv(100) == b""
        with pytest.raises(MessageTruncated) as info:
            server.recv(3)
        assert info.value.data == b"thr"
        assert info.value.size == 6
        client.send(b"peeked")
        assert server.recv(100, RecvFlags.PEEK) == b"peeked"
        cut = server.recv_from(2)
        assert cut.truncated
        assert cut.size == 6
        assert cut.data == b"pe"
        with pytest.raises(WouldBlock):
            server.recv(1, RecvFlags.DONTWAIT)


def test_datagram_limits_and_errors() -> None:
    a, b = MemoryDatagramTransport.pair(capacity=100)
    with a, b:
        assert a.max_message_size == 100
        a.send(bytes(100))
        with pytest.raises(WouldBlock):
            a.send(b"x", SendFlags.DONTWAIT)  # b's queue is full until it reads
        assert len(b.recv(100)) == 100
        with pytest.raises(MessageTooLarge) as info:
            a.send(bytes(101))
        assert info.value.limit == 100
        with pytest.raises(AddressError):
            a.send_to(b"x", ("127.0.0.1", 9))
    lonely = MemoryDatagramTransport.bind()
    with lonely:
        with pytest.raises(NotConnected):
            lonely.send(b"x")
        with pytest.raises(ConnectionRefused):
            lonely.send_to(b"x", "nobody-" + unique())
    with pytest.raises(ConnectionRefused):
        transports.connect(f"memorygram://{unique()}")


def test_memory_schemes_are_listed() -> None:
    rows = {row.name: row for row in transports.schemes()}
    assert rows["memory"].kind is transports.Kind.STREAM
    assert rows["memorygram"].kind is transports.Kind.DATAGRAM
    with pytest.raises(AddressError, match="bind"):
        transports.bind(f"memory://{unique()}")
    with pytest.raises(AddressError, match="listen"):
        transports.listen(f"memorygram://{unique()}")


# -- the conformance kit: memory transports honour the same contract as sockets -----------


def _memory_stream_pair() -> tuple[Transport, Transport]:
    return MemoryStreamTransport.pair(unique("kit"))


def _memory_datagram_pair() -> tuple[Transport, Transport]:
    return MemoryDatagramTransport.pair()


def _memory_listener() -> Listener[Transport]:
    return MemoryListener(unique("kit"))


def _memory_connect(listener: Listener[Transport]) -> Transport:
    address = listener.address
    assert isinstance(address, NamedAddress)
    return transports.connect(address.url(), timeout=TIMEOUT)


def test_memory_stream_passes_the_kit(stream_check: StreamCheck) -> None:
    stream_check(_memory_stream_pair)


def test_memory_datagram_passes_the_kit(message_check: MessageCheck) -> None:
    message_check(_memory_datagram_pair)


def test_memory_listener_passes_the_kit(listener_check: ListenerCheck) -> None:
    listener_check(_memory_listener, _memory_connect)


# -- memory follows the data, never the size asked for (issue 13) --------------------------


def test_huge_sizes_return_what_arrived() -> None:
    a, b = MemoryStreamTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        a.send_all(b"abc")
        assert b.recv(2**40) == b"abc"
        a.send_all(b"defg")
        assert b.recv(2**62, RecvFlags.PEEK) == b"defg"
        buffer = bytearray(10)
        assert b.recv_into(buffer) == 4
        assert buffer[:4] == b"defg"
        a.send_all(b"last")
        a.shutdown("write")
        assert b.recv(2**40, RecvFlags.WAITALL) == b"last"  # the end of stream ends the wait
        with pytest.raises(UnexpectedEOF) as info:
            b.recv_exactly(2**62)
        assert (info.value.partial, info.value.expected) == (b"", 2**62)
        assert b.recv(2**40) == b""
    sender, receiver = MemoryDatagramTransport.pair()
    with sender, receiver:
        receiver.timeout = TIMEOUT
        sender.send(b"datagram")
        message = receiver.recv_from(2**62)
        assert (message.data, message.truncated) == (b"datagram", False)


def test_recv_exactly_of_a_huge_size_grows_as_pieces_arrive(background: Background) -> None:
    # Far more than the 4 KiB buffer between the ends, then the end of stream: recv_exactly(2**40)
    # takes it piece by piece and hands all of it back with UnexpectedEOF.
    a, b = MemoryStreamTransport.pair(capacity=4096)
    data = os.urandom(300_000)
    with a, b:
        a.timeout = b.timeout = TIMEOUT

        def send_and_close() -> None:
            a.send_all(data)
            a.close()

        sender = background.start(send_and_close)
        with pytest.raises(UnexpectedEOF) as info:
            b.recv_exactly(2**40)
        assert info.value.partial == data
        assert info.value.expected == 2**40
        sender.result()


_PEAK_RSS = """
from transports import MemoryStreamTransport, RecvFlags, UnexpectedEOF


def measure(name):
    a, b = MemoryStreamTransport.pair()
    b.timeout = 5
    a.send_all(b"abc")
    a.close()
    call = {
        "recv_exactly": lambda: b.recv_exactly(256 << 20),
        "recv": lambda: b.recv(256 << 20),
        "recv-waitall": lambda: b.recv(256 << 20, RecvFlags.WAITALL),
    }[name]
    got, grown = grown_kib(call)
    if isinstance(got, UnexpectedEOF):
        got = got.partial
    return f"{grown} {control_kib()} {got.decode()}"
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux (bytes on macOS)")
@pytest.mark.parametrize("call", ["recv_exactly", "recv", "recv-waitall"])
def test_peak_rss_follows_the_bytes_that_arrived(call: str) -> None:
    # 256 MiB asked, 3 bytes sent, then end of stream: the peak RSS (the kernel's ru_maxrss, in a
    # process of its own) must not grow by anything like 256 MiB; a 64 MiB control proves that
    # the measurement would have seen it.
    grown_kib, control_kib, got = run_measured(_PEAK_RSS, call).split()
    assert got == "abc"
    assert int(grown_kib) < 32 * 1024, f"{call}: peak RSS grew by {int(grown_kib) // 1024} MiB"
    assert int(control_kib) >= 48 * 1024, f"the 64 MiB control showed only {control_kib} KiB"


def test_a_call_in_another_thread_leaves_the_timeout_alone(background: Background) -> None:
    # send_all spreads one deadline over its waits without rewriting the transport's timeout,
    # which a receive in another thread (or the caller) reads at the same time.
    a, b = MemoryStreamTransport.pair(capacity=10)
    with a, b:
        a.timeout = b.timeout = TIMEOUT
        sender = background.start(lambda: a.send_all(b"x" * 25))
        assert b.recv(10, RecvFlags.PEEK | RecvFlags.WAITALL) == b"x" * 10  # a's buffer is full: it waits
        assert a.timeout == TIMEOUT
        assert b.recv_exactly(25) == b"x" * 25
        sender.result()
        assert a.timeout == TIMEOUT
