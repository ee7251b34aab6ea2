"""Framing without I/O: messages to bytes and bytes back to messages (:apue:`16.5`, :apue:`16.3.1`).

A codec holds every rule of framing that does not wait: the 4-byte length
header or the delimiter, the size limits, the state of a message that has
half arrived, and when the stream is out of step. It never touches a
socket, so one codec serves every face: :mod:`transports.framing.sync`
drives it over a blocking transport, and an event loop can drive the same
object. :class:`MessageCodec` frames with a length header,
:class:`LineCodec` with a delimiter.

Sending: ``frame(body)`` checks the body and returns the two pieces to send
back to back; if a send stops part-way, ``send_failed(bytes_sent, total)``
records that the peer is out of step, and ``check_send()`` refuses every
later send. Receiving works like ``recv_into``:

* ``take()`` returns the next whole message once its bytes are in, else ``None``;
* ``room()`` is the buffer the next received bytes must go into; for
  :class:`MessageCodec` it is never longer than the rest of the current
  message, so a reader following it never takes bytes of the next one;
* ``arrived(count)`` says that *count* bytes landed at the start of that room;
* ``end()`` says the peer ended the stream: nothing happens between two
  messages, :class:`~transports.UnexpectedEOF` is raised inside one.

``feed(data)`` does all of that for bytes that were received elsewhere.
Memory follows the bytes that arrived, never a size the peer announced, and
a header over the limit is refused before anything is reserved for its body.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import ClassVar, NoReturn

from transports._compat import Buffer
from transports.errors import FrameError, FrameTooLarge, UnexpectedEOF

__all__ = [
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_SIZE",
    "HEADER_MAX",
    "HEADER_SIZE",
    "Codec",
    "LineCodec",
    "MessageCodec",
    "check_limit",
]

#: The length header: an unsigned 32-bit integer in network byte order (:apue:`16.3.1`).
_HEADER = struct.Struct("!I")
#: Bytes of the length header in front of every message.
HEADER_SIZE = _HEADER.size
#: The largest length the header can express.
HEADER_MAX = 0xFFFF_FFFF
#: :class:`MessageCodec`'s default limit on one message: 16 MiB.
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
#: :class:`LineCodec`'s default limit on one line, delimiter excluded: 64 KiB.
DEFAULT_MAX_LINE = 64 * 1024
#: The longest line limit a :class:`LineCodec` takes.
_LINE_MAX = 1 << 40
# Receive buffers up to this size are kept for the next message; a larger
# one is given back after its message so one big message does not pin memory.
_KEEP = 256 * 1024
# The room offered for a body before any of it arrived: min(size, this).
# Later pieces offer at most as much again as arrived, so the memory a body
# takes follows the bytes the peer sent, never the size it announced.
_FIRST_STEP = 64 * 1024
# The least a LineCodec may hold before refusing a line: a small max_length
# does not make the read-ahead buffer smaller than this.
_CHUNK = 64 * 1024


def _nowhere() -> str:
    return "(framing codec)"


def check_limit(name: str, value: int, highest: int) -> int:
    """*value* if it is an int from 0 to *highest*; else :class:`TypeError` or :class:`ValueError` naming *name*."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 0 <= value <= highest:
        raise ValueError(f"{name} must be between 0 and {highest}, got {value}")
    return value


def _check_delimiter(value: object) -> bytes:
    if not isinstance(value, bytes) or not value:
        raise ValueError(f"delimiter must be non-empty bytes, got {value!r}")
    return value


class Codec:
    """What both codecs share: the limit, the out-of-step rules, and ``feed`` (:apue:`16.5`)."""

    __slots__ = ("limit", "recv_broken", "send_broken", "where")

    #: What one message is called in error messages.
    unit: ClassVar[str]
    #: What one message with its framing is called in error messages.
    frame_name: ClassVar[str]
    #: The constructor argument that sets :attr:`limit`.
    limit_name: ClassVar[str]
    #: What a sender can do about a message over the limit.
    remedy: ClassVar[str]

    def __init__(self, limit: int, where: Callable[[], str]) -> None:
        #: The largest message (line, without its delimiter) sent or accepted, in bytes.
        self.limit = limit
        #: Names the stream in error messages; called only to build one.
        self.where = where
        #: Why sending is out of step, or ``None`` while it is in step.
        self.send_broken: str | None = None
        #: Why receiving is out of step, or ``None`` while it is in step.
        self.recv_broken: str | None = None

    # -- sending ------------------------------------------------------------------

    def frame(self, body: memoryview) -> tuple[memoryview, memoryview]:
        """The two pieces to send back to back for the message *body* (bytes, cast to ``"B"``)."""
        raise NotImplementedError

    def check_size(self, size: int) -> None:
        """Refuse a message of *size* bytes over the limit with FrameTooLarge: nothing is sent."""
        if size > self.limit:
            where = self.where()
            raise FrameTooLarge(
                f"send_message {where}: a {size}-byte {self.unit} is over this stream's limit of "
                f"{self.limit} bytes; nothing was sent; {self.remedy} or raise {self.limit_name} "
                "on both ends",
                size=size,
                limit=self.limit,
                op="send_message",
                address=where,
            )

    def check_send(self) -> None:
        """Raise FrameError if an earlier send stopped part-way through a frame."""
        if self.send_broken is not None:
            raise self.out_of_step("send_message", self.send_broken)

    def send_failed(self, bytes_sent: int | None, total: int) -> None:
        """A send of a *total*-byte frame failed after *bytes_sent*: out of step unless it was 0."""
        if bytes_sent:
            self.send_broken = f"an earlier send_message stopped after {bytes_sent} of the {total} bytes of a {self.frame_name}"

    # -- receiving -----------------------------------------------------------------

    def check_recv(self) -> None:
        """Raise FrameError if an earlier receive lost the boundaries (a refused message is still in the stream)."""
        if self.recv_broken is not None:
            raise self.out_of_step("recv_message", self.recv_broken)

    def take(self) -> bytes | None:
        """The next whole message if its bytes are in, else ``None``."""
        raise NotImplementedError

    def room(self) -> memoryview:
        """Where the next received bytes go: fill its start, then call :meth:`arrived`."""
        raise NotImplementedError

    def arrived(self, count: int) -> None:
        """*count* bytes were received into the start of :meth:`room`."""
        raise NotImplementedError

    def end(self) -> None:
        """The peer ended the stream: fine between messages, UnexpectedEOF inside one."""
        raise NotImplementedError

    def progress(self) -> str:
        """How far the message being received got, for a timeout's message."""
        raise NotImplementedError

    def feed(self, data: Buffer) -> list[bytes]:
        """Decode *data*, received elsewhere, and return the messages it completed.

        The bytes of a message not yet complete are kept for the next call.
        An error (a message over the limit) ends the call, and the stream
        is out of step from then on.
        """
        self.check_recv()
        messages: list[bytes] = []
        with memoryview(data) as raw, raw.cast("B") as rest:
            at, size = 0, len(rest)
            while True:
                message = self.take()
                if message is not None:
                    messages.append(message)
                    continue
                if at == size:
                    return messages
                room = self.room()
                count = min(len(room), size - at)
                room[:count] = rest[at : at + count]
                at += count
                self.arrived(count)

    def refuse(self, size: int, what: str, more: str) -> NoReturn:
        """The peer sent *what*, over the limit: out of step from now on; raise FrameTooLarge."""
        where = self.where()
        self.recv_broken = f"the peer {what}, over the limit of {self.limit} bytes"
        raise FrameTooLarge(
            f"recv_message {where}: the peer {what}, over this stream's limit of {self.limit} "
            f"bytes{more}; the stream is out of step now: close it (or raise {self.limit_name} "
            "on both ends)",
            size=size,
            limit=self.limit,
            op="recv_message",
            address=where,
            receiving=True,
        )

    def ended_inside(self, what: str, partial: bytes, expected: int) -> NoReturn:
        """The stream ended *what* (inside a message): raise UnexpectedEOF with the bytes that arrived."""
        where = self.where()
        raise UnexpectedEOF(
            f"recv_message {where}: the peer ended the stream {what}; they are in .partial",
            partial=partial,
            expected=expected,
            op="recv_message",
            address=where,
        )

    def out_of_step(self, op: str, why: str) -> FrameError:
        """The error for *op* on a stream whose boundaries are lost, *why* saying how."""
        where = self.where()
        return FrameError(
            f"{op} {where}: the stream is out of step ({why}); {self.unit} boundaries are lost: "
            "close this transport and connect again",
            op=op,
            address=where,
        )


class MessageCodec(Codec):
    """Length-prefixed messages: a 4-byte length in network byte order, then the body (:apue:`16.3.1`, :apue:`16.5`).

    A header announcing more than *max_size* is refused as soon as its four
    bytes are in, before any room is reserved for the body. Below the limit
    the body's room starts at ``min(size, 64 KiB)`` (or at the room kept from
    earlier messages, up to 256 KiB) and grows in pieces that each offer at
    most as much again as arrived; the body is received straight into them
    and copied once, into the message.

    >>> codec = MessageCodec(max_size=100)
    >>> head, body = codec.frame(memoryview(b"hi"))
    >>> wire = bytes(head) + bytes(body)
    >>> wire
    b'\\x00\\x00\\x00\\x02hi'
    >>> codec.feed(wire[:3]), codec.feed(wire[3:] + wire)
    ([], [b'hi', b'hi'])
    """

    __slots__ = ("_body_got", "_body_size", "_buffer", "_head", "_head_got", "_head_view", "_parts", "_room")

    unit = "message"
    frame_name = "frame"
    limit_name = "max_size"
    remedy = "split the data"

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE, *, where: Callable[[], str] = _nowhere) -> None:
        """Frame messages of at most *max_size* bytes; *where* names the stream in error messages."""
        super().__init__(check_limit("max_size", max_size, HEADER_MAX), where)
        self._head = bytearray(HEADER_SIZE)
        self._head_view = memoryview(self._head)
        self._head_got = 0
        self._body_size: int | None = None
        self._body_got = 0
        # The body so far: pieces of room, each full but the last, holding
        # _room bytes in all. The first is a view of _buffer, which is kept
        # for the next message (up to _KEEP bytes); the others are new.
        self._parts: list[memoryview] = []
        self._room = 0
        self._buffer = bytearray()

    def frame(self, body: memoryview) -> tuple[memoryview, memoryview]:
        """The header and *body* (bytes, cast to ``"B"``), to send back to back; FrameTooLarge over the limit."""
        size = len(body)
        self.check_size(size)
        return memoryview(_HEADER.pack(size)), body

    def take(self) -> bytes | None:
        size = self._body_size
        if size is None:
            if self._head_got < HEADER_SIZE:
                return None
            (size,) = _HEADER.unpack(self._head)
            self._head_got = 0
            if size > self.limit:
                self.refuse(size, f"announced a {size}-byte message", "; nothing of it was read")
            if size == 0:
                return b""
            self._start_body(size)
            return None
        if self._body_got < size:
            return None
        parts = self._parts
        message = parts[0].tobytes() if len(parts) == 1 else b"".join(parts)
        self._end_body()
        if size <= _KEEP and len(self._buffer) < size:
            # A whole message of this size arrived: keep room for one like it
            # next time (doubling, so a run of growing sizes allocates rarely).
            self._buffer = bytearray(max(size, min(2 * len(self._buffer), _KEEP, self.limit)))
        return message

    def room(self) -> memoryview:
        if self._body_size is None:
            return self._head_view[self._head_got :]
        if self._body_got == self._room:
            # All the room is full and more of the body is due: offer as much
            # again as arrived, within the announced size.
            step = min(self._body_size - self._room, self._room)
            self._parts.append(memoryview(bytearray(step)))
            self._room += step
        last = self._parts[-1]
        # Every piece before the last is full: the free room is at the end of the last.
        return last[len(last) - (self._room - self._body_got) :]

    def arrived(self, count: int) -> None:
        if self._body_size is None:
            self._head_got += count
        else:
            self._body_got += count

    def end(self) -> None:
        size = self._body_size
        if size is not None:
            got, parts = self._body_got, self._parts
            last = parts[-1]
            partial = b"".join([*parts[:-1], last[: len(last) - (self._room - got)]])
            self._end_body()
            self.ended_inside(f"after {got} of the {size} bytes of a message", partial, size)
        got, self._head_got = self._head_got, 0
        if got:
            what = f"{got} bytes into a message's {HEADER_SIZE}-byte length header"
            self.ended_inside(what, bytes(self._head[:got]), HEADER_SIZE)

    def progress(self) -> str:
        if self._body_size is not None:
            return f"after {self._body_got} of the {self._body_size} bytes of a message"
        if self._head_got:
            return f"after {self._head_got} bytes of a message's {HEADER_SIZE}-byte length header"
        return "waiting for a message"

    def _start_body(self, size: int) -> None:
        """Offer the first room for a *size*-byte body: what is kept, or at most _FIRST_STEP new bytes."""
        first = min(size, max(_FIRST_STEP, len(self._buffer)))
        if len(self._buffer) < first:
            self._buffer = bytearray(max(first, min(2 * len(self._buffer), _FIRST_STEP, self.limit)))
        self._body_size = size
        self._body_got = 0
        self._parts = [memoryview(self._buffer)[:first]]
        self._room = first

    def _end_body(self) -> None:
        """Forget the body's pieces: the kept buffer stays, the others are given back."""
        self._parts = []
        self._body_size = None
        self._body_got = self._room = 0


class LineCodec(Codec):
    """Delimited messages: lines, each followed by a delimiter (:apue:`16.5`).

    It reads ahead to find the delimiter; the bytes after the last line
    taken are in :attr:`buffered`. Its buffer starts at 4 KiB and doubles
    only when it is full of bytes that arrived; room over 256 KiB that a
    long line needed is given back once lines are short again. A line
    longer than *max_length* is refused as soon as that many bytes arrived
    without a delimiter, so no more than ``max(64 KiB, max_length +
    len(delimiter))`` bytes are ever held.

    >>> codec = LineCodec(delimiter=b"\\r\\n")
    >>> codec.feed(b"HELO example.org\\r"), codec.feed(b"\\nQUIT\\r\\nhalf")
    ([], [b'HELO example.org', b'QUIT'])
    >>> codec.buffered
    b'half'
    """

    __slots__ = ("_buf", "_capacity", "_end", "_scan", "_start", "_tail", "delimiter")

    unit = "line"
    frame_name = "line"
    limit_name = "max_length"
    remedy = "shorten it"

    def __init__(
        self,
        delimiter: bytes = b"\n",
        max_length: int = DEFAULT_MAX_LINE,
        *,
        where: Callable[[], str] = _nowhere,
    ) -> None:
        """Split at *delimiter* lines of at most *max_length* bytes; *where* names the stream in error messages."""
        delimiter = _check_delimiter(delimiter)
        super().__init__(check_limit("max_length", max_length, _LINE_MAX), where)
        #: What ends each line.
        self.delimiter = delimiter
        self._tail = memoryview(delimiter)
        self._capacity = max(_CHUNK, max_length + len(delimiter))
        self._buf = bytearray()
        self._start = 0  # the unread bytes are _buf[_start:_end]
        self._end = 0
        self._scan = 0  # no delimiter starts before this index

    @property
    def buffered(self) -> bytes:
        """Bytes received after the last line taken."""
        return bytes(self._buf[self._start : self._end])

    def frame(self, line: memoryview) -> tuple[memoryview, memoryview]:
        """*line* (bytes, cast to ``"B"``) and the delimiter, to send back to back.

        A line over the limit raises FrameTooLarge, and one the peer would
        read cut short (it holds the delimiter, or ends with the start of
        one) :class:`ValueError`.
        """
        self.check_size(len(line))
        delimiter = self.delimiter
        # A line is at most max_length bytes: one copy keeps the search simple.
        # It must not end with bytes that make a delimiter together with the
        # delimiter's first bytes either (b"a" before b"aa").
        found = (line.tobytes() + delimiter[:-1]).find(delimiter)
        if found >= 0:
            raise ValueError(
                f"send_message: the delimiter {delimiter!r} would be found at byte "
                f"{found} of the line (with its delimiter after it), so the peer would read "
                "the line cut short; send the parts as separate lines, or use a "
                "MessageStream for arbitrary bytes"
            )
        return line, self._tail

    def take(self) -> bytes | None:
        delimiter = self.delimiter
        found = self._buf.find(delimiter, self._scan, self._end)
        # Without a delimiter yet, the line is at least as long as the
        # bytes so far less the start of a delimiter still arriving.
        length = found - self._start if found >= 0 else self._end - self._start - len(delimiter) + 1
        if length > self.limit:
            what = f"a {length}-byte line" if found >= 0 else f"a line of at least {length} bytes"
            self.refuse(length, f"sent {what}", " per line")
        if found < 0:
            self._scan = max(self._start, self._end - len(delimiter) + 1)
            return None
        with memoryview(self._buf) as view:
            line = bytes(view[self._start : found])
        self._start = self._scan = found + len(delimiter)
        if len(self._buf) > _KEEP and self._start == self._end and len(self._buf) > 4 * len(line):
            # Nothing read ahead, and lines are short again: give back the
            # room an earlier long line needed (a run of long lines keeps
            # it, instead of growing it again for each one).
            self._start = self._end = self._scan = 0
            self._buf = self._buf[:_KEEP]
        return line

    def room(self) -> memoryview:
        if self._start == self._end:
            self._start = self._end = self._scan = 0
        if self._end == len(self._buf):
            unread = self._end - self._start
            if self._start:
                # Move the unread bytes to the front to make room behind them.
                self._buf[:unread] = self._buf[self._start : self._end]
                self._scan -= self._start
                self._start, self._end = 0, unread
            if self._end == len(self._buf):
                # Full of bytes that arrived: double it. A new buffer, not a
                # resize: a view of the old one may still be alive (in the
                # traceback of a timeout the caller kept), and a bytearray
                # with live views cannot be resized.
                bigger = bytearray(min(max(2 * len(self._buf), 4096), self._capacity))
                bigger[: self._end] = self._buf
                self._buf = bigger
        return memoryview(self._buf)[self._end :]

    def arrived(self, count: int) -> None:
        self._end += count

    def end(self) -> None:
        unread = self._end - self._start
        if not unread:
            return
        partial = bytes(self._buf[self._start : self._end])
        self._start = self._end = self._scan = 0
        what = f"inside a line: {unread} bytes with no {self.delimiter!r} after them"
        self.ended_inside(what, partial, unread + len(self.delimiter))

    def progress(self) -> str:
        return f"with {self._end - self._start} bytes of a line and no delimiter"
