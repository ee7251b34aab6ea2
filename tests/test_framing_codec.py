"""The framing codec without I/O: bytes in any split, limits before allocation, out-of-step rules (APUE 16.5, 16.3.1).

Every test here feeds bytes by hand, so each boundary case of the two
decoders is reached without a socket, as an event loop (or a test) would
drive them.
"""

from __future__ import annotations

import itertools
import struct
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transports import FrameError, FrameTooLarge, MessageTooLarge, UnexpectedEOF
from transports.framing.codec import (
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_SIZE,
    HEADER_MAX,
    HEADER_SIZE,
    LineCodec,
    MessageCodec,
)

KiB = 1024
MiB = 1 << 20
CODEC = settings(max_examples=60, deadline=None)


def header(size: int) -> bytes:
    return struct.pack("!I", size)


def wire(codec: MessageCodec | LineCodec, message: bytes) -> bytes:
    head, tail = codec.frame(memoryview(message))
    return bytes(head) + bytes(tail)


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """*data* cut at the positions *cuts* (taken modulo its length, in order)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    for start, stop in itertools.pairwise(points):
        yield data[start:stop]


def where() -> str:
    return "test://peer"


# -- length-prefixed -------------------------------------------------------------------------------


@CODEC
@given(
    st.lists(st.binary(max_size=300) | st.just(b""), max_size=8),
    st.lists(st.integers(min_value=0), max_size=40),
)
def test_messages_survive_any_split(messages: list[bytes], cuts: list[int]) -> None:
    sender, receiver = MessageCodec(max_size=1000), MessageCodec(max_size=1000)
    data = b"".join(wire(sender, message) for message in messages)
    got = [message for piece in pieces(data, cuts) for message in receiver.feed(piece)]
    assert got == messages
    receiver.end()  # between messages: no error


def test_header_is_four_bytes_in_network_byte_order() -> None:
    head, body = MessageCodec().frame(memoryview(b"hello"))
    assert bytes(head) == b"\x00\x00\x00\x05"
    assert len(head) == HEADER_SIZE == 4
    assert bytes(body) == b"hello"


def test_a_message_sent_over_the_limit_is_refused_before_framing() -> None:
    codec = MessageCodec(max_size=4, where=where)
    with pytest.raises(FrameTooLarge) as info:
        codec.frame(memoryview(b"12345"))
    assert (info.value.size, info.value.limit, info.value.op) == (5, 4, "send_message")
    assert "test://peer" in str(info.value)
    assert "nothing was sent" in str(info.value)
    assert codec.send_broken is None  # nothing left: still in step
    assert bytes(codec.frame(memoryview(b"1234"))[0]) == header(4)


def test_a_header_over_the_limit_is_refused_before_any_allocation() -> None:
    codec = MessageCodec(max_size=DEFAULT_MAX_SIZE, where=where)
    tracemalloc.start()
    try:
        with pytest.raises(FrameTooLarge) as info:
            codec.feed(header(HEADER_MAX))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * KiB, f"refusing a 4 GiB header allocated {peak} bytes"
    err = info.value
    assert isinstance(err, MessageTooLarge)
    assert (err.size, err.limit, err.op, err.bytes_sent) == (
        HEADER_MAX,
        DEFAULT_MAX_SIZE,
        "recv_message",
        None,
    )
    assert "nothing of it was read" in str(err)
    # The body is still in the stream: the boundaries are lost from now on.
    for call in (lambda: codec.feed(b"more"), codec.check_recv):
        with pytest.raises(FrameError, match="out of step") as again:
            call()
        assert not isinstance(again.value, FrameTooLarge)
        assert "4294967295-byte message" in str(again.value)


def test_a_header_at_the_limit_is_accepted() -> None:
    codec = MessageCodec(max_size=3)
    assert codec.feed(header(3) + b"abc") == [b"abc"]


def test_room_never_reaches_into_the_next_message() -> None:
    """What ``room()`` offers ends where the current message ends, so a reader takes no byte of the next."""
    codec = MessageCodec()
    data = header(3) + b"abc" + header(0) + header(70_000) + bytes(70_000) + header(1) + b"z"
    at, got = 0, []
    while at < len(data):
        while (message := codec.take()) is not None:
            got.append(message)
        room = codec.room()
        count = min(len(room), len(data) - at)
        room[:count] = data[at : at + count]
        # Each message's bytes are taken in as few reads as its room allows, and never more.
        assert at + len(room) <= len(data)
        at += count
        codec.arrived(count)
    while (message := codec.take()) is not None:
        got.append(message)
    assert got == [b"abc", b"", bytes(70_000), b"z"]


def test_memory_follows_the_bytes_that_arrived_not_the_size_announced() -> None:
    codec = MessageCodec(max_size=DEFAULT_MAX_SIZE)
    arrived = 200 * KiB
    tracemalloc.start()
    try:
        codec.feed(header(DEFAULT_MAX_SIZE))
        for _ in range(arrived // (4 * KiB)):
            codec.feed(bytes(4 * KiB))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The first room is 64 KiB; each later piece at most as much again as arrived.
    assert held <= 2 * arrived + 64 * KiB, f"{held} bytes held for {arrived} that arrived"
    assert codec.progress() == f"after {arrived} of the {DEFAULT_MAX_SIZE} bytes of a message"


def test_end_between_messages_is_clean() -> None:
    codec = MessageCodec()
    assert codec.feed(header(2) + b"ok") == [b"ok"]
    codec.end()  # between messages: no error
    assert codec.progress() == "waiting for a message"


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_end_inside_a_header_keeps_what_arrived(cut: int) -> None:
    codec = MessageCodec(where=where)
    codec.feed(header(5)[:cut])
    assert codec.progress() == f"after {cut} bytes of a message's 4-byte length header"
    with pytest.raises(UnexpectedEOF) as info:
        codec.end()
    assert (info.value.partial, info.value.expected) == (header(5)[:cut], HEADER_SIZE)
    assert f"{cut} bytes into a message's 4-byte length header" in str(info.value)
    codec.end()  # what was cut is forgotten: no error the second time


def test_end_inside_a_body_keeps_what_arrived() -> None:
    codec = MessageCodec(where=where)
    body = bytes(range(256)) * 600  # several pieces of room
    codec.feed(header(len(body) + 10) + body)
    with pytest.raises(UnexpectedEOF) as info:
        codec.end()
    assert (info.value.partial, info.value.expected) == (body, len(body) + 10)
    assert f"after {len(body)} of the {len(body) + 10} bytes of a message" in str(info.value)
    assert codec.feed(header(1) + b"x") == [b"x"]  # the next stream starts afresh


def test_a_send_cut_short_puts_sending_out_of_step() -> None:
    codec = MessageCodec(where=where)
    codec.send_failed(0, 9)
    codec.send_failed(None, 9)
    codec.check_send()  # nothing went out: the peer is still in step
    codec.send_failed(3, 9)
    with pytest.raises(FrameError, match="stopped after 3 of the 9 bytes of a frame") as info:
        codec.check_send()
    assert info.value.op == "send_message"
    assert "close this transport" in str(info.value)
    codec.check_recv()  # the other direction is not concerned


@pytest.mark.parametrize("bad", [-1, HEADER_MAX + 1])
def test_max_size_outside_the_header_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="max_size"):
        MessageCodec(max_size=bad)


def test_where_is_asked_only_for_an_error() -> None:
    asked: list[int] = []

    def counting() -> str:
        asked.append(1)
        return "test://counted"

    codec = MessageCodec(max_size=10, where=counting)
    assert codec.feed(wire(codec, b"fine") * 3) == [b"fine"] * 3
    assert not asked
    with pytest.raises(FrameTooLarge, match="test://counted"):
        codec.feed(header(11))
    assert asked


# -- lines -------------------------------------------------------------------------------------------

LINE = st.binary(max_size=60).filter(lambda line: b"\n" not in line)


@CODEC
@given(
    st.lists(st.binary(max_size=60), max_size=8),
    st.sampled_from([b"\n", b"\r\n", b"--", b"aa", b"\x00\x01\x00"]),
    st.lists(st.integers(min_value=0), max_size=40),
)
def test_lines_survive_any_split(lines: list[bytes], delimiter: bytes, cuts: list[int]) -> None:
    sender, receiver = LineCodec(delimiter), LineCodec(delimiter)
    sendable = []
    for line in lines:
        try:
            data = wire(sender, line)
        except ValueError:
            assert delimiter in line + delimiter[:-1]
            continue
        sendable.append((line, data))
    data = b"".join(data for _, data in sendable)
    got = [line for piece in pieces(data, cuts) for line in receiver.feed(piece)]
    assert got == [line for line, _ in sendable]
    assert receiver.buffered == b""
    receiver.end()  # between messages: no error


def test_a_line_is_refused_when_its_bytes_arrived_without_a_delimiter() -> None:
    limit = 10
    codec = LineCodec(b"\r\n", max_length=limit, where=where)
    # limit bytes and the first byte of the delimiter could still be a line at the limit.
    assert codec.feed(b"x" * limit + b"\r") == []
    with pytest.raises(FrameTooLarge) as info:
        codec.feed(b"x")
    assert (info.value.size, info.value.limit, info.value.bytes_sent) == (limit + 1, limit, None)
    assert f"a line of at least {limit + 1} bytes" in str(info.value)
    with pytest.raises(FrameError, match="line boundaries are lost"):
        codec.feed(b"\r\n")


def test_a_line_at_the_limit_is_accepted_and_one_over_it_is_named() -> None:
    codec = LineCodec(max_length=3)
    assert codec.feed(b"abc\n") == [b"abc"]
    with pytest.raises(FrameTooLarge, match="a 4-byte line"):
        codec.feed(b"abcd\n")


def test_line_memory_is_bounded_by_the_limit_not_the_bytes_sent() -> None:
    limit = 100 * KiB
    codec = LineCodec(max_length=limit)
    tracemalloc.start()
    try:
        with pytest.raises(FrameTooLarge):  # noqa: PT012  # the refusal comes after some of the feeds
            for _ in range(100):
                codec.feed(bytes(4 * KiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The buffer doubles up to max(64 KiB, limit + len(delimiter)); a copy is made while it grows.
    assert peak <= 3 * (limit + 1) + 16 * KiB, f"peak {peak} for a {limit}-byte limit"


def test_read_ahead_is_kept_in_buffered() -> None:
    codec = LineCodec()
    assert codec.feed(b"one\ntwo\nthr") == [b"one", b"two"]
    assert codec.buffered == b"thr"
    assert codec.progress() == "with 3 bytes of a line and no delimiter"
    with pytest.raises(UnexpectedEOF) as info:
        codec.end()
    assert (info.value.partial, info.value.expected) == (b"thr", 4)
    assert "inside a line" in str(info.value)
    assert codec.buffered == b""


@pytest.mark.parametrize(
    ("line", "delimiter", "at"),
    [(b"a\nb", b"\n", 1), (b"a", b"aa", 0), (b"xab", b"aba", 1), (b"-", b"--", 0)],
)
def test_a_line_the_peer_would_read_cut_short_is_refused(line: bytes, delimiter: bytes, at: int) -> None:
    with pytest.raises(ValueError, match=f"at byte {at} of the line"):
        LineCodec(delimiter).frame(memoryview(line))


def test_a_line_ending_with_part_of_the_delimiter_is_fine_when_no_delimiter_forms() -> None:
    codec = LineCodec(b"\r\n")
    assert wire(codec, b"x\r") == b"x\r\r\n"
    assert LineCodec(b"\r\n").feed(b"x\r\r\n") == [b"x\r"]


def test_a_line_over_the_limit_is_refused_before_anything_is_framed() -> None:
    codec = LineCodec(max_length=2)
    with pytest.raises(FrameTooLarge, match="nothing was sent; shorten it or raise max_length"):
        codec.frame(memoryview(b"abc"))
    codec.send_failed(2, 4)
    with pytest.raises(FrameError, match="stopped after 2 of the 4 bytes of a line"):
        codec.check_send()


@pytest.mark.parametrize("bad", [b"", "\n", None])
def test_the_delimiter_is_non_empty_bytes(bad: object) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        LineCodec(bad)  # type: ignore[arg-type]  # the point: a wrong type at run time


def test_defaults() -> None:
    assert MessageCodec().limit == DEFAULT_MAX_SIZE == 16 * MiB
    codec = LineCodec()
    assert (codec.limit, codec.delimiter) == (DEFAULT_MAX_LINE, b"\n")
