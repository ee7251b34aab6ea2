"""Framing: length-prefixed and delimited messages over byte streams (APUE 16.5, 16.3.1, 14.6).

Messages go over real TCP and Unix stream sockets with a sender thread, and
through wrappers that split every receive into pieces of at most k bytes or
make every gather write take at most k bytes, so each boundary case of the
decoders is reached. A fuzzer feeds random byte streams to the frame
decoder and compares the outcome with a reference decoder written here.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import pickle
import random
import select
import socket
import struct
import tempfile
import threading
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typing_extensions import Buffer

from conftest import STREAM_PAIRS, TIMEOUT, Background, Task, make_pair, needs_ipv6
from transports import (
    BrokenPipe,
    FrameError,
    FrameTooLarge,
    LineStream,
    MessageStream,
    MessageTooLarge,
    RecvFlags,
    SendFlags,
    StreamTransport,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnexpectedEOF,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    WouldBlock,
    socketpair,
)
from transports.faults import Passthrough
from transports.framing import DEFAULT_MAX_LINE, DEFAULT_MAX_SIZE, HEADER_SIZE
from transports.options import SO_SNDBUF
from transports.protocols import ShutdownHow

MiB = 1 << 20
#: The room a body's buffer starts with, and the least any receive may offer (docs/framing.rst).
FIRST_STEP = 64 * 1024
#: Buffers up to this size are kept between messages; room beyond it is given back.
KEEP = 256 * 1024
T = TypeVar("T")

STREAM_KINDS = [pytest.param(name, marks=needs_ipv6) if name.endswith("6") else name for name in STREAM_PAIRS]

FRAMING = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def header(size: int) -> bytes:
    return struct.pack("!I", size)


def frame(message: bytes) -> bytes:
    return header(len(message)) + message


@contextlib.contextmanager
def stream_ends(name: str) -> Iterator[tuple[StreamTransport, StreamTransport]]:
    """A connected stream pair of kind *name* (see conftest.STREAM_PAIRS), closed afterwards."""
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="tt-", dir="/tmp"))
        pair = make_pair(name, stack, Path(directory))
        assert isinstance(pair.a, StreamTransport)
        assert isinstance(pair.b, StreamTransport)
        yield pair.a, pair.b


@contextlib.contextmanager
def unix_pair() -> Iterator[tuple[UnixStreamTransport, UnixStreamTransport]]:
    a, b = socketpair()
    with a, b:
        a.timeout = TIMEOUT
        b.timeout = TIMEOUT
        yield a, b


class Wrapped(Passthrough[StreamTransport]):
    """A StreamTransport around another one: splits receives, records them, fails sends on cue.

    *step* caps the bytes of each receive (the worst the kernel may do);
    ``asked`` records the room each ``recv_into`` offered and ``got`` what
    it returned. With *send_room* set, ``send_all`` takes that many bytes
    in all, then fails like a peer that went away, with ``bytes_sent``.
    ``reached`` is set once receives returned ``signal_at`` bytes in all.
    Not one of our classes, so the framing layer takes its generic path.
    """

    def __init__(self, inner: StreamTransport, step: int | None = None) -> None:
        super().__init__(inner)
        self.step = step
        self.asked: list[int] = []
        self.got: list[int] = []
        self.send_room: int | None = None
        self.signal_at: int | None = None
        self.reached = threading.Event()

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        with memoryview(data) as raw, raw.cast("B") as view:
            if self.send_room is not None and len(view) > self.send_room:
                taken, self.send_room = self.send_room, 0
                self.inner.send_all(view[:taken], flags)
                raise BrokenPipe("send_all wrapped: the peer went away", op="send_all", bytes_sent=taken)
            if self.send_room is not None:
                self.send_room -= len(view)
            self.inner.send_all(view, flags)

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return self.inner.recv(min(max_bytes, self.step or max_bytes), flags)

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        with memoryview(buffer) as raw, raw.cast("B") as view:
            room = nbytes or len(view)
            self.asked.append(room)
            count = self.inner.recv_into(view, min(room, self.step or room), flags)
        self.got.append(count)
        if self.signal_at is not None and sum(self.got) >= self.signal_at:
            self.reached.set()
        return count

    def recv_exactly(self, n: int) -> bytes:
        return self.inner.recv_exactly(n)

    def shutdown(self, how: ShutdownHow = "write") -> None:
        self.inner.shutdown(how)


class StingySocket(socket.socket):
    """A socket whose gather write takes at most ``step`` bytes per call, as a full buffer does."""

    step = 3
    calls = 0

    def sendmsg(  # type: ignore[override]
        self, buffers: Iterable[Buffer], ancdata: Iterable[Any] = (), flags: int = 0, /
    ) -> int:
        self.calls += 1
        room = self.step
        parts: list[memoryview] = []
        for buffer in buffers:
            part = memoryview(buffer).cast("B")[:room]
            parts.append(part)
            room -= len(part)
            if not room:
                break
        return super().sendmsg(parts, ancdata, flags)


def stingy_pair(step: int) -> tuple[UnixStreamTransport, UnixStreamTransport, StingySocket]:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    stingy = StingySocket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=left.detach())
    stingy.step = step
    a, b = UnixStreamTransport(stingy), UnixStreamTransport(right)
    # Short: a broken gather loop shows as a stall, and hypothesis replays many examples.
    a.timeout = b.timeout = 2.0
    return a, b, stingy


def payloads(sizes: list[int], seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(size) for size in sizes]


def exchange(
    sender: StreamTransport,
    receiver: StreamTransport,
    messages: list[bytes],
    *,
    max_size: int = DEFAULT_MAX_SIZE,
) -> list[bytes]:
    """Send *messages* from a thread as framed messages, then end the stream; return what arrived."""
    outgoing = MessageStream(sender, max_size=max_size)
    incoming = MessageStream(receiver, max_size=max_size)

    def send() -> None:
        for message in messages:
            outgoing.send_message(message)
        sender.shutdown("write")

    helpers = Background()
    task = helpers.start(send, "framing-sender")
    try:
        received = list(incoming)
    except BaseException:
        receiver.close()  # the sender fails at once instead of waiting for room
        task.join()
        raise
    task.result()
    return received


# -- MessageStream: sequences of messages survive any split -------------------------------------

message_sizes = st.lists(
    st.one_of(st.integers(0, 16), st.integers(0, 70_000), st.integers(0, MiB)),
    max_size=6,
)


@pytest.mark.parametrize("name", STREAM_KINDS)
@FRAMING
@given(sizes=message_sizes, seed=st.integers(0, 2**32 - 1))
def test_any_sequence_arrives_whole_over_real_sockets(name: str, sizes: list[int], seed: int) -> None:
    messages = payloads(sizes, seed)
    with stream_ends(name) as (a, b):
        assert exchange(a, b, messages) == messages


@FRAMING
@given(
    sizes=st.lists(st.integers(0, 3000), max_size=8),
    seed=st.integers(0, 2**32 - 1),
    step=st.integers(1, 37),
)
def test_any_split_of_the_receives(sizes: list[int], seed: int, step: int) -> None:
    messages = payloads(sizes, seed)
    with unix_pair() as (a, b):
        receiver = Wrapped(b, step)
        assert exchange(Wrapped(a), receiver, messages) == messages
        assert max(receiver.got, default=0) <= step
        assert b.timeout == TIMEOUT  # the whole-call deadline gave the timeout back


@FRAMING
@given(
    sizes=st.lists(st.integers(0, 3000), max_size=8),
    seed=st.integers(0, 2**32 - 1),
    step=st.integers(1, 11),
)
def test_any_split_of_the_gather_writes(sizes: list[int], seed: int, step: int) -> None:
    messages = payloads(sizes, seed)
    a, b, stingy = stingy_pair(step)
    with a, b:
        assert exchange(a, b, messages) == messages
        assert stingy.calls >= sum((HEADER_SIZE + len(m) + step - 1) // step for m in messages)


def test_large_message_with_a_small_send_buffer(background: Background) -> None:
    # The gather write cannot take 4 MiB at once: partial sends, then the rest.
    a, b = socketpair()
    with a, b:
        a.timeout = b.timeout = TIMEOUT
        a.set_option(SO_SNDBUF, 4096)
        message = random.Random(7).randbytes(4 * MiB)
        assert exchange(a, b, [message, b"after"]) == [message, b"after"]


def test_large_messages_through_the_generic_path() -> None:
    # Over 64 KiB a transport that is not ours gets header and body as two send_all calls.
    messages = payloads([200_000, 0, 70_000], 3)
    with unix_pair() as (a, b):
        assert exchange(Wrapped(a), Wrapped(b, 65_536), messages) == messages


def test_over_a_transport_that_is_not_a_socket() -> None:
    # The in-memory transport is a StreamTransport with no socket: the generic send path,
    # and a buffer of 1000 bytes that makes every message wait for the reader.
    from transports.memory import MemoryStreamTransport

    a, b = MemoryStreamTransport.pair(capacity=1000)
    with a, b:
        a.timeout = b.timeout = TIMEOUT
        messages = payloads([0, 5, 995, 996, 1000, 70_000], 11)
        assert exchange(a, b, messages) == messages


def test_any_buffer_type_is_a_message() -> None:
    import array

    ints = array.array("i", [1, 2, 3])
    with unix_pair() as (a, b):
        out, into = MessageStream(a), MessageStream(b)
        out.send_message(bytearray(b"array of bytes"))
        out.send_message(memoryview(b"..view")[2:])
        out.send_message(ints)
        assert into.recv_message() == b"array of bytes"
        assert into.recv_message() == b"view"
        assert into.recv_message() == ints.tobytes()


def test_wire_format_is_a_big_endian_length() -> None:
    with unix_pair() as (a, b):
        MessageStream(a).send_message(b"abc")
        assert b.recv_exactly(7) == b"\x00\x00\x00\x03abc"
        a.send_all(b"\x00\x00\x01\x00" + bytes(256))
        assert MessageStream(b).recv_message() == bytes(256)


def test_reads_no_byte_past_the_message() -> None:
    with unix_pair() as (a, b):
        a.send_all(frame(b"one") + b"raw bytes after it")
        stream = MessageStream(b)
        assert stream.recv_message() == b"one"
        assert b.recv_exactly(18) == b"raw bytes after it"


def test_concurrent_senders_never_interleave(background: Background) -> None:
    senders, count, size = 4, 10, 100_000
    with unix_pair() as (a, b):
        out = MessageStream(a)

        def send(who: int) -> None:
            for n in range(count):
                out.send_message(bytes([who, n]) * (size // 2))

        tasks = [background.start(functools.partial(send, who), f"sender-{who}") for who in range(senders)]
        into = MessageStream(b)
        seen: dict[int, list[int]] = {who: [] for who in range(senders)}
        for _ in range(senders * count):
            message = into.recv_message()
            assert message is not None
            assert len(message) == size
            who, n = message[0], message[1]
            assert message == bytes([who, n]) * (size // 2)
            seen[who].append(n)
        for task in tasks:
            task.result()
        assert seen == {who: list(range(count)) for who in range(senders)}


# -- the end of the stream ---------------------------------------------------------------------------


def test_clean_end_between_messages_is_none() -> None:
    with unix_pair() as (a, b):
        MessageStream(a).send_message(b"")
        a.shutdown("write")
        stream = MessageStream(b)
        assert stream.recv_message() == b""  # an empty message is a message
        assert stream.recv_message() is None
        assert stream.recv_message() is None
        assert list(stream) == []


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_end_inside_the_header(cut: int) -> None:
    with unix_pair() as (a, b):
        a.send_all(frame(b"whole") + header(10)[:cut])
        a.shutdown("write")
        stream = MessageStream(b)
        assert stream.recv_message() == b"whole"
        with pytest.raises(UnexpectedEOF) as info:
            stream.recv_message()
        assert info.value.partial == header(10)[:cut]
        assert info.value.expected == HEADER_SIZE
        assert info.value.op == "recv_message"
        assert f"{cut} bytes into a message's 4-byte length header" in str(info.value)
        assert isinstance(info.value, EOFError)
        assert stream.recv_message() is None


def test_end_inside_the_body() -> None:
    with unix_pair() as (a, b):
        a.send_all(header(1000) + b"x" * 600)
        a.shutdown("write")
        stream = MessageStream(b)
        with pytest.raises(UnexpectedEOF) as info:
            list(stream)
        assert info.value.partial == b"x" * 600
        assert info.value.expected == 1000
        assert "after 600 of the 1000 bytes of a message" in str(info.value)
        assert "unix:" in str(info.value)


# -- limits: checked before anything is read or sent --------------------------------------------------


def test_header_claiming_4_gib_is_refused_before_reading_the_body() -> None:
    with unix_pair() as (a, b):
        a.send_all(header(0xFFFF_FFFF) + b"body bytes")
        recorder = Wrapped(b)
        stream = MessageStream(recorder)
        tracemalloc.start()
        try:
            with pytest.raises(FrameTooLarge) as info:
                stream.recv_message()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        err = info.value
        assert (err.size, err.limit, err.bytes_sent, err.errno) == (
            0xFFFF_FFFF,
            DEFAULT_MAX_SIZE,
            None,
            errno.EMSGSIZE,
        )
        assert isinstance(err, MessageTooLarge)
        assert isinstance(err, FrameError)
        assert "4294967295-byte message" in str(err)
        assert "limit of 16777216 bytes" in str(err)
        assert peak < MiB
        assert sum(recorder.got) == HEADER_SIZE
        # The body is still in the socket: nothing of it was read.
        assert b.recv(100, RecvFlags.PEEK) == b"body bytes"
        # The stream is out of step from now on, and says so.
        with pytest.raises(FrameError, match="out of step") as again:
            stream.recv_message()
        assert not isinstance(again.value, FrameTooLarge)


def test_limit_is_exact_on_receive() -> None:
    with unix_pair() as (a, b):
        a.send_all(frame(b"x" * 100) + frame(b"y" * 101))
        stream = MessageStream(b, max_size=100)
        assert stream.recv_message() == b"x" * 100
        with pytest.raises(FrameTooLarge) as info:
            stream.recv_message()
        assert (info.value.size, info.value.limit) == (101, 100)


def test_limit_is_exact_on_send() -> None:
    with unix_pair() as (a, b):
        stream = MessageStream(a, max_size=100)
        stream.send_message(b"x" * 100)
        with pytest.raises(FrameTooLarge) as info:
            stream.send_message(b"y" * 101)
        err = info.value
        assert (err.size, err.limit, err.bytes_sent, err.op) == (101, 100, 0, "send_message")
        assert "nothing was sent" in str(err)
        assert b.recv_exactly(104) == frame(b"x" * 100)
        with pytest.raises(WouldBlock):
            b.recv(1, RecvFlags.DONTWAIT)
        stream.send_message(b"still in step")
        assert MessageStream(b).recv_message() == b"still in step"


def test_zero_limit_allows_only_empty_messages() -> None:
    with unix_pair() as (a, b):
        MessageStream(a, max_size=0).send_message(b"")
        a.send_all(header(1))
        stream = MessageStream(b, max_size=0)
        assert stream.recv_message() == b""
        with pytest.raises(FrameTooLarge):
            stream.recv_message()


def _reference_decode(data: bytes, max_size: int) -> tuple[list[bytes], tuple[object, ...]]:
    """What a correct decoder makes of *data*: the messages, then how it ends."""
    messages: list[bytes] = []
    at = 0
    while True:
        if at == len(data):
            return messages, ("end",)
        if len(data) - at < HEADER_SIZE:
            return messages, ("cut", data[at:], HEADER_SIZE)
        (size,) = struct.unpack_from("!I", data, at)
        if size > max_size:
            return messages, ("too large", size)
        body = data[at + HEADER_SIZE : at + HEADER_SIZE + size]
        if len(body) < size:
            return messages, ("cut", body, size)
        messages.append(body)
        at += HEADER_SIZE + size


stream_pieces = st.lists(
    st.one_of(st.binary(max_size=300).map(frame), st.binary(max_size=40)),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(pieces=stream_pieces, max_size=st.integers(0, 400), step=st.sampled_from([None, 1, 5]))
def test_fuzzed_streams_give_messages_or_a_clean_error(
    pieces: list[bytes], max_size: int, step: int | None
) -> None:
    data = b"".join(pieces)
    expected, ending = _reference_decode(data, max_size)
    with unix_pair() as (a, b):
        a.send_all(data)  # a few KiB: fits in the socket buffer
        a.shutdown("write")
        recorder = Wrapped(b, step)
        stream = MessageStream(recorder, max_size=max_size)
        received: list[bytes] = []
        outcome: tuple[object, ...] = ("end",)
        try:
            received.extend(stream)
        except FrameTooLarge as exc:
            outcome = ("too large", exc.size, exc.limit)
        except UnexpectedEOF as exc:
            outcome = ("cut", exc.partial, exc.expected)
        if ending[0] == "too large":
            ending = (*ending, max_size)  # and the error names the limit
        assert outcome == ending
        assert received == expected
        # Never asked the kernel for more room than one header or one allowed message.
        assert max(recorder.asked, default=0) <= max(HEADER_SIZE, max_size)


# -- timeouts and non-blocking use: an interrupted message resumes ----------------------------------


def test_timeout_in_the_middle_keeps_what_arrived() -> None:
    with unix_pair() as (a, b):
        message = bytes(range(256)) * 40
        wire = frame(message)
        a.send_all(wire[:3000])
        b.timeout = 0.05
        stream = MessageStream(b)
        with pytest.raises(TransportTimeout) as info:
            stream.recv_message()
        assert f"after 2996 of the {len(message)} bytes of a message" in str(info.value)
        assert "timeout of 0.05 s" in str(info.value)
        assert info.value.op == "recv_message"
        assert isinstance(info.value, TimeoutError)
        assert b.timeout == 0.05
        a.send_all(wire[3000:])
        b.timeout = TIMEOUT
        assert stream.recv_message() == message


def test_timeout_inside_the_header_resumes() -> None:
    with unix_pair() as (a, b):
        a.send_all(header(5)[:2])
        b.timeout = 0.05
        stream = MessageStream(b)
        with pytest.raises(TransportTimeout, match="after 2 bytes of a message's 4-byte length header"):
            stream.recv_message()
        a.send_all(header(5)[2:] + b"hello")
        assert stream.recv_message() == b"hello"


def test_timeout_waiting_for_a_message() -> None:
    with unix_pair() as (_, b):
        b.timeout = 0.05
        with pytest.raises(TransportTimeout, match="waiting for a message"):
            MessageStream(b).recv_message()


def test_non_blocking_use_from_a_select_loop() -> None:
    with unix_pair() as (a, b):
        b.timeout = 0
        stream = MessageStream(b)
        wire = frame(b"split across two readiness events")
        a.send_all(wire[:10])
        assert select.select([b], [], [], TIMEOUT)[0] == [b]
        with pytest.raises(WouldBlock):
            stream.recv_message()
        a.send_all(wire[10:])
        assert select.select([b], [], [], TIMEOUT)[0] == [b]
        assert stream.recv_message() == b"split across two readiness events"
        with pytest.raises(WouldBlock):
            stream.recv_message()


# -- send failures ---------------------------------------------------------------------------------------


def test_send_cut_part_way_puts_the_stream_out_of_step() -> None:
    with unix_pair() as (a, _):
        a.set_option(SO_SNDBUF, 4096)
        a.timeout = 0.05
        stream = MessageStream(a)
        with pytest.raises(TransportTimeout) as info:
            stream.send_message(bytes(4 * MiB))  # nobody reads: the buffer fills
        sent = info.value.bytes_sent
        assert sent is not None
        assert 0 < sent < HEADER_SIZE + 4 * MiB
        assert info.value.op == "send_message"
        with pytest.raises(FrameError, match="stopped after") as again:
            stream.send_message(b"next")
        assert "out of step" in str(again.value)
        assert "close this transport" in str(again.value)


def test_send_failing_before_any_byte_keeps_the_stream_in_step() -> None:
    with unix_pair() as (a, b):
        wrapped = Wrapped(a)
        wrapped.send_room = 0
        stream = MessageStream(wrapped)
        with pytest.raises(BrokenPipe) as info:
            stream.send_message(b"refused")
        assert info.value.bytes_sent == 0
        wrapped.send_room = None
        stream.send_message(b"fine")
        assert MessageStream(b).recv_message() == b"fine"


def test_generic_path_counts_the_header_in_bytes_sent() -> None:
    with unix_pair() as (a, _):
        wrapped = Wrapped(a)
        wrapped.send_room = HEADER_SIZE + 1000
        stream = MessageStream(wrapped)
        with pytest.raises(BrokenPipe) as info:
            stream.send_message(bytes(100_000))  # header and body go as two send_all calls
        assert info.value.bytes_sent == HEADER_SIZE + 1000
        with pytest.raises(FrameError):
            stream.send_message(b"")


def test_peer_gone_is_a_broken_pipe_not_a_signal() -> None:
    a, b = socketpair()
    with a:
        b.close()
        with pytest.raises(BrokenPipe) as info:
            MessageStream(a).send_message(b"anyone?")
        assert info.value.bytes_sent == 0


# -- construction and the small things -----------------------------------------------------------------


def test_refuses_transports_that_keep_boundaries() -> None:
    a, b = UnixSeqpacketTransport.pair()
    with a, b:
        for cls in (MessageStream, LineStream):
            with pytest.raises(TypeError, match="byte-stream transport"):
                cls(a)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 2**32, True, 1.5])
def test_bad_max_size(bad: Any) -> None:
    a, b = socketpair()
    with a, b, pytest.raises((ValueError, TypeError), match="max_size"):
        MessageStream(a, max_size=bad)


def test_largest_header_is_allowed() -> None:
    a, b = socketpair()
    with a, b:
        assert MessageStream(a, max_size=2**32 - 1).max_size == 2**32 - 1


def test_closing_the_stream_closes_the_transport() -> None:
    a, b = socketpair()
    with b:
        with MessageStream(a) as stream:
            assert stream.transport is a
            assert stream.max_size == DEFAULT_MAX_SIZE
            assert "MessageStream max_size=16777216" in repr(stream)
        assert a.closed
        stream.close()


def test_errors_pickle_with_their_fields() -> None:
    err = FrameTooLarge("too big", size=10, limit=5, op="recv_message", address="tcp://h:1", receiving=True)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is FrameTooLarge
    assert (copy.size, copy.limit, copy.bytes_sent, copy.errno, str(copy)) == (
        10,
        5,
        None,
        errno.EMSGSIZE,
        "too big",
    )
    sent = FrameTooLarge("too big", size=10, limit=5)
    assert sent.bytes_sent == 0
    plain = pickle.loads(pickle.dumps(FrameError("lost", op="send_message", address="unix:x")))
    assert (type(plain), plain.op, str(plain)) == (FrameError, "send_message", "lost")
    assert issubclass(FrameError, TransportError)


# -- LineStream ------------------------------------------------------------------------------------------

DELIMITERS = [b"\n", b"\r\n", b"\x00", b"--END--", b"aa"]


def _fits(line: bytes, delimiter: bytes) -> bool:
    """Whether *line* followed by *delimiter* reads back as *line*."""
    return (line + delimiter).find(delimiter) == len(line)


line_pieces = st.lists(
    st.lists(st.sampled_from([b"a", b"b", b"\r", b"\n", b"-", b"END", b"\x00", b"text "]), max_size=30).map(
        b"".join
    ),
    max_size=12,
)


@FRAMING
@given(lines=line_pieces, delimiter=st.sampled_from(DELIMITERS), step=st.sampled_from([None, 1, 2, 3, 7]))
def test_lines_arrive_whole_under_any_split(lines: list[bytes], delimiter: bytes, step: int | None) -> None:
    lines = [line for line in lines if _fits(line, delimiter)]
    with unix_pair() as (a, b):
        out = LineStream(a, delimiter=delimiter)
        into = LineStream(Wrapped(b, step), delimiter=delimiter)
        for line in lines:
            out.send_message(line)
        a.shutdown("write")
        assert list(into) == lines
        assert into.buffered == b""


@pytest.mark.parametrize("name", STREAM_KINDS)
def test_many_lines_over_real_sockets(name: str, background: Background) -> None:
    lines = [b"line %d " % n + b"x" * (n % 300) for n in range(5000)]
    with stream_ends(name) as (a, b):
        out = LineStream(a)

        def send() -> None:
            for line in lines:
                out.send_message(line)
            a.shutdown("write")

        task = background.start(send, "line-sender")
        assert list(LineStream(b)) == lines
        task.result()


def test_line_cut_at_the_end_is_reported() -> None:
    with unix_pair() as (a, b):
        a.send_all(b"complete\r\nhalf a li")
        a.shutdown("write")
        stream = LineStream(b, delimiter=b"\r\n")
        assert stream.recv_message() == b"complete"
        with pytest.raises(UnexpectedEOF) as info:
            stream.recv_message()
        assert info.value.partial == b"half a li"
        assert info.value.expected == len(b"half a li") + 2
        assert "inside a line" in str(info.value)
        assert "b'\\r\\n'" in str(info.value)
        assert stream.recv_message() is None


def test_line_limit_is_exact() -> None:
    with unix_pair() as (a, b):
        a.send_all(b"x" * 10 + b"\n" + b"y" * 11 + b"\n")
        stream = LineStream(b, max_length=10)
        assert stream.recv_message() == b"x" * 10
        with pytest.raises(FrameTooLarge) as info:
            stream.recv_message()
        assert (info.value.size, info.value.limit, info.value.bytes_sent) == (11, 10, None)
        assert "a 11-byte line" in str(info.value)
        with pytest.raises(FrameError, match="out of step"):
            stream.recv_message()


@pytest.mark.parametrize("delimiter", [b"\n", b"\r\n", b"--END--"])
def test_endless_line_is_refused_once_the_limit_is_passed(delimiter: bytes) -> None:
    # The peer never sends a delimiter: reading stops right past the limit.
    with unix_pair() as (a, b):
        limit = 100_000
        a.send_all(b"z" * (limit + len(delimiter) - 1))  # could still end in time
        recorder = Wrapped(b, 4096)
        stream = LineStream(recorder, delimiter=delimiter, max_length=limit)
        b.timeout = 0.05
        with pytest.raises(TransportTimeout, match="no delimiter"):
            stream.recv_message()
        a.send_all(b"z" * 50_000)
        b.timeout = TIMEOUT
        with pytest.raises(FrameTooLarge) as info:
            stream.recv_message()
        assert info.value.size == limit + 1
        assert f"a line of at least {limit + 1} bytes" in str(info.value)
        # Held at most the limit and a delimiter, never the 50 KB behind it.
        assert sum(recorder.got) <= limit + len(delimiter)


def test_line_stream_holds_its_read_ahead() -> None:
    with unix_pair() as (a, b):
        a.send_all(b"first\nsecond\nrest")
        stream = LineStream(b)
        assert stream.recv_message() == b"first"
        assert stream.buffered == b"second\nrest"
        assert stream.recv_message() == b"second"
        assert stream.buffered == b"rest"


def test_line_timeout_resumes() -> None:
    with unix_pair() as (a, b):
        a.send_all(b"par")
        b.timeout = 0.05
        stream = LineStream(b, delimiter=b"\r\n")
        with pytest.raises(TransportTimeout, match="with 3 bytes of a line"):
            stream.recv_message()
        a.send_all(b"tial\r")
        with pytest.raises(TransportTimeout, match="with 8 bytes of a line"):
            stream.recv_message()
        a.send_all(b"\nnext\r\n")
        assert stream.recv_message() == b"partial"
        assert stream.recv_message() == b"next"


@pytest.mark.parametrize(
    ("line", "delimiter", "at"),
    [(b"one\ntwo", b"\n", 3), (b"a", b"aa", 0), (b"x--END-", b"--END--", 1), (b"\r", b"\r\n", -1)],
)
def test_line_send_refuses_lines_that_would_be_cut(line: bytes, delimiter: bytes, at: int) -> None:
    with unix_pair() as (a, b):
        stream = LineStream(a, delimiter=delimiter)
        if at < 0:
            stream.send_message(line)
            assert LineStream(b, delimiter=delimiter).recv_message() == line
            return
        with pytest.raises(ValueError, match=f"at byte {at} of the line"):
            stream.send_message(line)
        with pytest.raises(WouldBlock):
            b.recv(1, RecvFlags.DONTWAIT)


def test_line_send_limit() -> None:
    with unix_pair() as (a, b):
        stream = LineStream(a, max_length=4)
        stream.send_message(b"four")
        with pytest.raises(FrameTooLarge) as info:
            stream.send_message(b"fives")
        assert (info.value.size, info.value.limit, info.value.bytes_sent) == (5, 4, 0)
        assert b.recv_exactly(5) == b"four\n"


def test_line_send_cut_part_way() -> None:
    with unix_pair() as (a, _):
        wrapped = Wrapped(a)
        wrapped.send_room = 3
        stream = LineStream(wrapped)
        with pytest.raises(BrokenPipe) as info:
            stream.send_message(b"hello")
        assert info.value.bytes_sent == 3
        with pytest.raises(FrameError, match="stopped after 3 of the 6 bytes of a line"):
            stream.send_message(b"again")


@pytest.mark.parametrize("bad", [b"", "\n", None])
def test_bad_delimiter(bad: Any) -> None:
    a, b = socketpair()
    with a, b, pytest.raises(ValueError, match="delimiter"):
        LineStream(a, delimiter=bad)


def test_line_stream_properties() -> None:
    a, b = socketpair()
    with b:
        with LineStream(a, delimiter=b";") as stream:
            assert (stream.transport, stream.delimiter, stream.max_length) == (a, b";", DEFAULT_MAX_LINE)
            assert "LineStream delimiter=b';'" in repr(stream)
        assert a.closed


def test_iteration_stops_at_the_clean_end(background: Background) -> None:
    with unix_pair() as (a, b):
        ready = threading.Event()

        def send() -> None:
            stream = MessageStream(a)
            for n in range(3):
                stream.send_message(b"%d" % n)
            ready.wait(TIMEOUT)
            a.shutdown("write")

        task = background.start(send, "sender")
        into = MessageStream(b)
        first = next(iter(into))
        ready.set()
        assert [first, *into] == [b"0", b"1", b"2"]
        task.result()


# -- memory follows the bytes that arrived (issue 13; peak RSS in test_framing_memory.py) -----------


def test_room_offered_for_a_body_follows_what_arrived(background: Background) -> None:
    # Before: the whole announced size was offered (and zero-filled) at once.
    message = random.Random(5).randbytes(MiB + 3)
    with unix_pair() as (a, b):
        task = background.start(lambda: MessageStream(a).send_message(message), "sender")
        recorder = Wrapped(b)
        assert MessageStream(recorder).recv_message() == message
        task.result()
    arrived = 0
    for asked, got in zip(recorder.asked, recorder.got, strict=True):
        assert asked <= max(FIRST_STEP, arrived), (asked, arrived)
        arrived += got
    assert arrived == HEADER_SIZE + len(message)


def test_line_room_follows_what_arrived(background: Background) -> None:
    lines = [b"a" * 3 * MiB, b"short", b"b" * 200_000]
    with unix_pair() as (a, b):

        def send() -> None:
            out = LineStream(a, max_length=16 * MiB)
            for line in lines:
                out.send_message(line)
            a.shutdown("write")

        task = background.start(send, "line-sender")
        recorder = Wrapped(b)
        assert list(LineStream(recorder, max_length=16 * MiB)) == lines
        task.result()
    # The read-ahead buffer doubles only when full of bytes that arrived; the room it
    # offers may include what an earlier long line needed, never more than twice what came.
    arrived = 0
    for asked, got in zip(recorder.asked, recorder.got, strict=True):
        assert asked <= max(FIRST_STEP, 2 * arrived), (asked, arrived)
        arrived += got


# Body offsets around the pieces the body buffer grows in: 64 KiB, +64 KiB, +128 KiB ...
_CUTS = [0, 1, FIRST_STEP - 1, FIRST_STEP, FIRST_STEP + 1, 2 * FIRST_STEP, 4 * FIRST_STEP - 1, 4 * FIRST_STEP]


@pytest.mark.parametrize("timeout", [0.0, 0.02])
def test_body_arriving_across_several_timeouts_comes_out_whole(timeout: float) -> None:
    message = random.Random(9).randbytes(300_007)
    wire = frame(message)
    with unix_pair() as (a, b):
        b.timeout = timeout
        stream = MessageStream(b)
        sent = 0
        for cut in _CUTS:
            # Over a Unix socket the bytes are queued at the receiver once send_all returns.
            a.send_all(wire[sent : HEADER_SIZE + cut])
            sent = HEADER_SIZE + cut
            with pytest.raises((TransportTimeout, WouldBlock)) as info:
                stream.recv_message()
            if timeout:
                assert f"after {cut} of the {len(message)} bytes of a message" in str(info.value)
        a.send_all(wire[sent:])
        assert stream.recv_message() == message
        # The stream is in step and its buffers fit the next messages of any size.
        small, middle = b"next", random.Random(10).randbytes(200_000)
        a.send_all(frame(small) + frame(middle)[:100_000])
        assert stream.recv_message() == small
        with pytest.raises((TransportTimeout, WouldBlock)):
            stream.recv_message()
        a.send_all(frame(middle)[100_000:] + frame(b""))
        assert stream.recv_message() == middle
        assert stream.recv_message() == b""


def test_stream_cut_after_a_grown_body_keeps_every_byte() -> None:
    message = random.Random(4).randbytes(3 * FIRST_STEP + 5)
    with unix_pair() as (a, b):
        b.timeout = 0.02
        stream = MessageStream(b)
        a.send_all(header(DEFAULT_MAX_SIZE) + message[:100_000])
        with pytest.raises(TransportTimeout):
            stream.recv_message()
        a.send_all(message[100_000:])
        a.shutdown("write")
        with pytest.raises(UnexpectedEOF) as info:
            stream.recv_message()
        assert info.value.partial == message
        assert info.value.expected == DEFAULT_MAX_SIZE
        assert stream.recv_message() is None


_AROUND_THE_STEPS = [
    size + delta for size in (FIRST_STEP, 2 * FIRST_STEP, KEEP, 4 * KEEP) for delta in (-1, 0, 1)
]


@FRAMING
@given(
    sizes=st.lists(st.one_of(st.sampled_from(_AROUND_THE_STEPS), st.integers(0, 100)), max_size=6),
    seed=st.integers(0, 2**32 - 1),
    step=st.sampled_from([None, 4093, FIRST_STEP, FIRST_STEP + 1]),
)
def test_sizes_around_the_growth_steps_arrive_whole(sizes: list[int], seed: int, step: int | None) -> None:
    messages = payloads(sizes, seed)
    with unix_pair() as (a, b):
        assert exchange(a, Wrapped(b, step), messages) == messages


def test_line_stream_gives_back_the_room_of_a_long_line(background: Background) -> None:
    wire = b"x" * 2 * MiB + b"\nshort\n"  # made before tracing starts: only the stream's memory counts
    with unix_pair() as (a, b):
        task = background.start(lambda: a.send_all(wire), "line-sender")
        stream = LineStream(b, max_length=4 * MiB)
        tracemalloc.start()
        try:
            assert len(stream.recv_message() or b"") == 2 * MiB
            assert stream.recv_message() == b"short"
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        task.result()
    assert held < KEEP + 64 * 1024


def test_line_grows_while_the_caller_keeps_a_timeout(background: Background) -> None:
    # Before: the kept exception's traceback held a view of the buffer, and growing it in place
    # raised BufferError ("Existing exports of data: object cannot be re-sized").
    with unix_pair() as (a, b):
        a.send_all(b"x" * 4096)
        b.timeout = 0.02
        stream = LineStream(b, max_length=MiB)
        with pytest.raises(TransportTimeout) as kept:
            stream.recv_message()
        task = background.start(lambda: a.send_all(b"y" * 300_000 + b"\nnext\n"), "line-sender")
        b.timeout = TIMEOUT
        assert stream.recv_message() == b"x" * 4096 + b"y" * 300_000
        assert stream.recv_message() == b"next"
        task.result()
        assert "with 4096 bytes of a line" in str(kept.value)


# -- close() from another thread wakes a blocked framed call (issue 13 point 1) ---------------------


def start_blocked(
    background: Background, func: Callable[[], T], name: str, ready: threading.Event
) -> Task[T]:
    """Run *func* in a thread that sets *ready* on its way to a blocking call; return once it blocks.

    tests/blocking.py (shared with test_closing.py) watches /proc until the
    thread sleeps in a system call other than the GIL's futex, so close()
    closes a transport a call really waits on, not one about to be used.
    """
    blocking = pytest.importorskip("blocking", reason="tests/blocking.py tells when a thread is blocked")
    task = background.start(func, name)
    assert ready.wait(TIMEOUT)
    assert blocking.wait_until_blocked(task.thread, TIMEOUT), f"thread {name} ended before it blocked"
    return task


@pytest.mark.parametrize("inside", [False, True], ids=["between", "inside"])
@pytest.mark.parametrize("make", [MessageStream, LineStream])
@pytest.mark.parametrize("name", STREAM_KINDS)
def test_close_from_another_thread_wakes_a_blocked_receive(
    name: str, make: type[MessageStream] | type[LineStream], inside: bool, background: Background
) -> None:
    with stream_ends(name) as (a, b):
        b.timeout = None
        recorder = Wrapped(b)  # with no timeout, framing calls recv_into straight through
        stream = make(recorder)
        if inside:  # blocked in the middle of a message, after its first bytes
            first = header(100) + b"xy" if make is MessageStream else b"xy"
            a.send_all(first)
            recorder.signal_at = len(first)
            receive = stream.recv_message
        else:

            def receive() -> bytes | None:
                recorder.reached.set()
                return stream.recv_message()

        task = start_blocked(background, receive, "blocked-receiver", recorder.reached)
        b.close()
        task.thread.join(1.0)
        woke = not task.thread.is_alive()
        if not woke:
            # Release the thread that close() left blocked, with bytes that came after close().
            with contextlib.suppress(TransportError):
                a.send_all(frame(b"late") if make is MessageStream else b"late\n")
            task.thread.join(1.0)
            if task.thread.is_alive():
                a.close()
        with pytest.raises(TransportClosed):
            task.result()
        assert woke, "close() did not wake the blocked recv_message within 1 s"


@pytest.mark.parametrize("make", [MessageStream, LineStream])
@pytest.mark.parametrize("name", STREAM_KINDS)
def test_close_from_another_thread_wakes_a_receive_resumed_under_a_timeout(
    name: str, make: type[MessageStream] | type[LineStream], background: Background
) -> None:
    # Under a timeout the framed receive polls the socket itself between receives:
    # that poll must wake on close() too.
    with stream_ends(name) as (a, b):
        a.send_all(header(100) + b"x" * 10 if make is MessageStream else b"xy")
        b.timeout = 3.0
        stream = make(b)
        started = threading.Event()

        def receive() -> bytes | None:
            started.set()
            return stream.recv_message()  # takes what came, then polls for the rest

        task = start_blocked(background, receive, "blocked-receiver", started)
        b.close()
        task.thread.join(1.0)
        woke = not task.thread.is_alive()
        if not woke:
            a.close()
        with pytest.raises(TransportError) as info:
            task.result()
        assert woke, "close() did not wake the framed receive within 1 s"
        assert isinstance(info.value, TransportClosed), info.value


@pytest.mark.parametrize("make", [MessageStream, LineStream])
def test_close_from_another_thread_wakes_a_blocked_send(
    make: type[MessageStream] | type[LineStream], background: Background
) -> None:
    with unix_pair() as (a, b):
        a.set_option(SO_SNDBUF, 4096)
        a.timeout = None
        stream = MessageStream(a) if make is MessageStream else LineStream(a, max_length=8 * MiB)
        started = threading.Event()

        def send() -> None:
            started.set()
            stream.send_message(bytes(4 * MiB))  # nobody reads: blocks in sendmsg

        task = start_blocked(background, send, "blocked-sender", started)
        a.close()
        task.thread.join(1.0)
        woke = not task.thread.is_alive()
        if not woke:
            b.close()  # the blocked sendmsg fails with EPIPE
        with pytest.raises(TransportError) as info:
            task.result()
        assert woke, "close() did not wake the blocked send_message within 1 s"
        assert isinstance(info.value, TransportClosed), info.value
        assert info.value.bytes_sent is not None
        assert 0 <= info.value.bytes_sent < 4 * MiB
