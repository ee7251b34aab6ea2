"""Message boundaries on a byte stream: length-prefixed and delimited framing (APUE 16.5, 16.3.1, 14.6).

A byte stream keeps no message boundaries (APUE 16.5 Data Transfer): two
sends can arrive as one receive and one send as several. The classes here
put the boundaries back on any :class:`~transports.protocols.StreamTransport`.
:class:`MessageStream` sends each message after a 4-byte length in network
byte order (APUE 16.3.1 Byte Ordering), written together with the body in
one gather write (APUE 14.6 readv and writev); :class:`LineStream` ends each
message with a delimiter, ``b"\\n"`` by default. Both refuse a message over
their size limit on receive *before* reading or allocating it, and below the
limit the memory they take grows with the bytes that arrived, never with a
size the peer announced: a peer cannot make this process reserve memory it
did not send. Both tell apart the clean end of a stream (between messages:
``recv_message`` returns ``None``) from a stream cut in the middle of a
message (:class:`~transports.errors.UnexpectedEOF` with what did arrive).
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from transports._closing import CloseOnExit
from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.sockflags import NOSIGNAL
from transports._core.stream import StreamMixin
from transports.errors import FrameError, FrameTooLarge, TransportError, TransportTimeout, UnexpectedEOF
from transports.protocols import StreamTransport, Transport

__all__ = [
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_SIZE",
    "HEADER_SIZE",
    "LineStream",
    "MessageStream",
]

#: The length header: an unsigned 32-bit integer in network byte order (APUE 16.3.1).
_HEADER = struct.Struct("!I")
#: Bytes of the length header in front of every message.
HEADER_SIZE = _HEADER.size
#: The largest length the header can express.
_HEADER_MAX = 0xFFFF_FFFF
#: :class:`MessageStream`'s default limit on one message: 16 MiB.
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
#: :class:`LineStream`'s default limit on one line, delimiter excluded: 64 KiB.
DEFAULT_MAX_LINE = 64 * 1024
# Receive buffers up to this size are kept for the next message; a larger
# one is given back after its message so one big message does not pin memory.
_KEEP = 256 * 1024
# The room MessageStream offers for a body before any of it arrived: min(size,
# this). Later pieces offer at most as much again as arrived, so the memory a
# body takes follows the bytes the peer sent, never the size it announced.
_FIRST_STEP = 64 * 1024
# The least LineStream may hold before refusing a line: a small max_length
# does not make the read-ahead buffer smaller than this.
_CHUNK = 64 * 1024
# A transport that is not one of ours has no gather write: parts up to this
# size are joined so the header never leaves alone (a lone small segment can
# wait for a delayed ACK under Nagle's algorithm).
_JOIN_BELOW = 64 * 1024


def _where(transport: Transport) -> str:
    """A name for *transport* in error messages: its URL when it is one of ours."""
    if isinstance(transport, StreamMixin):
        return transport._where()
    try:
        peer = transport.remote_address
    except OSError:
        peer = None
    return f"{type(transport).__name__} to {peer}" if peer is not None else repr(transport)


def _check_limit(name: str, value: int, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 0 <= value <= highest:
        raise ValueError(f"{name} must be between 0 and {highest}, got {value}")
    return value


def _check_delimiter(value: object) -> bytes:
    if not isinstance(value, bytes) or not value:
        raise ValueError(f"delimiter must be non-empty bytes, got {value!r}")
    return value


def _delimiter_at(line: memoryview, delimiter: bytes) -> int:
    """Where the peer would see *delimiter* in *line* sent with its delimiter, if before the end; else -1.

    A line must not hold the delimiter, nor end with bytes that make one
    together with the delimiter's first bytes (``b"a"`` before ``b"aa"``).
    """
    # A line is at most max_length bytes: one copy keeps the search simple.
    return (line.tobytes() + delimiter[:-1]).find(delimiter)


def _check_stream(owner: str, transport: object) -> StreamTransport:
    if not isinstance(transport, StreamTransport):
        raise TypeError(
            f"{owner} needs a byte-stream transport (TCP or Unix stream), got {transport!r}; "
            "datagram and seqpacket transports keep message boundaries already: send one "
            "message per send"
        )
    return transport


class _Waits:
    """The receive calls of one framed read, under one deadline (APUE 14.7 readn and writen).

    The transport's timeout covers the whole ``recv_message``, as it covers
    ``recv_exactly``: the first call waits with the timeout as it is, later
    ones with what is left of it.
    """

    __slots__ = ("_calls", "_deadline", "_shrunk", "_timeout", "_transport")

    def __init__(self, transport: StreamTransport) -> None:
        self._transport = transport
        self._calls = 0
        self._shrunk = False
        self._timeout: float | None = None
        self._deadline: Deadline | None = None

    def recv_into(self, view: memoryview) -> int:
        transport = self._transport
        if self._calls == 0:
            self._timeout = timeout = transport.timeout
            # A timeout of 0 (non-blocking) needs no deadline: each call fails fast.
            self._deadline = Deadline(timeout) if timeout else None
        elif self._deadline is not None:
            left = self._deadline.left()
            assert left is not None  # a deadline is made only for a finite timeout
            if left <= 0:
                raise TimeoutError("timed out")
            sock = getattr(transport, "raw_socket", None)
            if isinstance(sock, socket.socket):
                # Poll instead of shrinking the timeout: a thread sending on the
                # same socket keeps the timeout it set.
                if not _wait_readable(transport, sock, left):
                    raise TimeoutError("timed out")
            else:
                transport.timeout = left
                self._shrunk = True
        self._calls += 1
        return transport.recv_into(view)

    def restore(self) -> None:
        if self._shrunk and not self._transport.closed:
            self._transport.timeout = self._timeout

    @property
    def timeout(self) -> float | None:
        """The timeout that was set before the first call."""
        return self._timeout if self._calls else self._transport.timeout


def _wait_readable(transport: StreamTransport, sock: socket.socket, left: float) -> bool:
    """Poll *sock* for input for up to *left* seconds; False if it timed out.

    On one of our transports the poll counts as a call in flight, so that
    ``close()`` from another thread wakes it (APUE 16.2): the receive that
    follows then reports the transport closed.
    """
    owner = transport if isinstance(transport, StreamMixin) else None
    if owner is not None:
        owner._enter()
    try:
        if sock.fileno() < 0:
            return True  # closed already: the receive says so
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(max(left * 1000.0, 1.0)))
    finally:
        if owner is not None:
            owner._leave()


def _timed_out(op: str, where: str, progress: str, timeout: float | None) -> TransportTimeout:
    limit = f"timeout of {timeout:g} s" if timeout is not None else "timeout"
    return TransportTimeout(
        f"{op} {where}: timed out {progress} ({limit}); what arrived is kept: call {op} "
        "again to go on, or raise the timeout",
        errno=errno.ETIMEDOUT,
        op=op,
        address=where,
    )


def _send_parts(transport: StreamTransport, parts: Sequence[memoryview], total: int, op: str) -> None:
    """Send *parts* back to back, as one gather write when the transport is one of ours (APUE 14.6).

    Raises a :class:`~transports.errors.TransportError` whose ``bytes_sent``
    counts the bytes of all parts that the kernel took.
    """
    if isinstance(transport, StreamMixin):
        _sendmsg_all(transport, parts, total, op)
        return
    if total < _JOIN_BELOW:
        transport.send_all(b"".join(parts))
        return
    done = 0
    for part in parts:
        try:
            transport.send_all(part)
        except TransportError as exc:
            exc.bytes_sent = done + (exc.bytes_sent or 0)
            raise
        done += len(part)


def _sendmsg_all(transport: StreamMixin[Any], parts: Sequence[memoryview], total: int, op: str) -> None:
    sock = transport.raw_socket
    start = time.monotonic()
    sent = 0
    # In flight while it runs, as the transport's own send_all: close() from
    # another thread wakes it with TransportClosed (APUE 16.2).
    transport._enter()
    try:
        sent = sock.sendmsg(parts, (), NOSIGNAL)
        if sent == total:
            return
        deadline = Deadline(sock.gettimeout(), start=start)
        while sent < total:
            deadline.before_next_call(sock, writing=True)
            sent += sock.sendmsg(_unsent(parts, sent), (), NOSIGNAL)
    except OSError as exc:
        raise transport._error(exc, op, bytes_sent=sent) from exc
    finally:
        transport._leave()


def _unsent(parts: Sequence[memoryview], sent: int) -> list[memoryview]:
    """What is left of *parts* once *sent* bytes of them went out."""
    rest: list[memoryview] = []
    for part in parts:
        if sent >= len(part):
            sent -= len(part)
            continue
        rest.append(part[sent:] if sent else part)
        sent = 0
    return rest


class MessageStream(CloseOnExit):
    """Length-prefixed messages over a byte stream (APUE 16.5 Data Transfer, 16.3.1 Byte Ordering, 14.6 readv and writev).

    Each message goes out as a 4-byte length in network byte order followed
    by the bytes, header and body in one ``sendmsg`` gather write on our own
    transports. ``recv_message`` returns one whole message, or ``None`` when
    the peer ended the stream cleanly between messages; iterating over the
    stream yields messages until then. A message of 0 bytes is a message
    (``b""``), not the end.

    >>> from transports import socketpair
    >>> a, b = socketpair()
    >>> b.timeout = 5
    >>> with MessageStream(a) as left, MessageStream(b) as right:
    ...     left.send_message(b"hello")
    ...     left.send_message(b"")
    ...     left.transport.shutdown("write")
    ...     list(right)
    [b'hello', b'']

    Safety and limits:

    * *max_size* (16 MiB by default) bounds one message both ways. A header
      announcing more raises :class:`~transports.errors.FrameTooLarge`
      before one byte of the body is read or any memory is reserved for it;
      sending more raises it before anything is sent.
    * Memory follows the bytes that arrived, not the size a header
      announced: the body's buffer starts at ``min(size, 64 KiB)`` and
      grows in pieces that each offer at most as much again as arrived. A
      thousand idle peers that each announced 16 MiB cost a thousand times
      64 KiB, not 16 GiB. A body is received straight into these pieces and
      copied once, into the returned ``bytes``.
    * The stream cut inside a message raises
      :class:`~transports.errors.UnexpectedEOF` whose ``partial`` holds the
      bytes of that message that arrived (of the header, when it was cut
      there) and ``expected`` how many were announced.
    * The transport's timeout covers one whole ``recv_message`` or
      ``send_message`` (over a transport that is not one of ours, a message
      of 64 KiB or more is sent as two ``send_all`` calls, each with the
      whole timeout). When a receive times out (or, with timeout 0, would
      block) in the middle of a message, what arrived is kept and the next
      ``recv_message`` goes on from there, so the stream can be read from a
      ``select`` loop (APUE 14.4 I/O Multiplexing).
    * A send that stopped part-way through a message (timeout, error) leaves
      the peer out of step: later sends raise
      :class:`~transports.errors.FrameError`; so do receives after a
      too-large header, whose body is still in the stream.
    * Exactly the bytes of one message are read from the transport, never
      more, so it can be used directly again between messages (to pass file
      descriptors, or to ``sendfile`` a body announced in a message).
    * ``send_message`` and ``recv_message`` each take a lock: several threads
      may send on one stream (their messages never interleave) while another
      receives.

    Closing the :class:`MessageStream` (or leaving its ``with`` block)
    closes the transport.
    """

    __slots__ = (
        "_body_got",
        "_body_size",
        "_buffer",
        "_head",
        "_head_got",
        "_max_size",
        "_parts",
        "_recv_broken",
        "_recv_lock",
        "_room",
        "_send_broken",
        "_send_lock",
        "_transport",
    )

    def __init__(self, transport: StreamTransport, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        """Frame messages over *transport*, each at most *max_size* bytes."""
        self._transport = _check_stream("MessageStream", transport)
        self._max_size = _check_limit("max_size", max_size, _HEADER_MAX)
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._send_broken: str | None = None
        self._recv_broken: str | None = None
        # Receive state, kept between calls so an interrupted message resumes.
        self._head = bytearray(HEADER_SIZE)
        self._head_got = 0
        self._body_size: int | None = None
        self._body_got = 0
        # The body so far: pieces of room, each full but the last, holding
        # _room bytes in all. The first is a view of _buffer, which is kept
        # for the next message (up to _KEEP bytes); the others are new.
        self._parts: list[memoryview] = []
        self._room = 0
        self._buffer = bytearray()

    @property
    def transport(self) -> StreamTransport:
        """The byte stream the messages travel over."""
        return self._transport

    @property
    def max_size(self) -> int:
        """The largest message this stream sends or accepts, in bytes."""
        return self._max_size

    # -- sending ------------------------------------------------------------------

    def send_message(self, data: Buffer) -> None:
        """Send *data* as one message: its length header and its bytes (APUE 14.6 readv and writev).

        Returns once the kernel has taken all of it. On an error the
        exception's ``bytes_sent`` counts the bytes of the frame (header
        included) that went out.
        """
        with memoryview(data) as raw, raw.cast("B") as body:
            size = len(body)
            if size > self._max_size:
                where = _where(self._transport)
                raise FrameTooLarge(
                    f"send_message {where}: a {size}-byte message is over this stream's limit of "
                    f"{self._max_size} bytes; nothing was sent; split the data or raise max_size "
                    "on both ends",
                    size=size,
                    limit=self._max_size,
                    op="send_message",
                    address=where,
                )
            with memoryview(_HEADER.pack(size)) as head, self._send_lock:
                if self._send_broken is not None:
                    raise self._out_of_step("send_message", self._send_broken)
                total = HEADER_SIZE + size
                try:
                    _send_parts(self._transport, (head, body), total, "send_message")
                except TransportError as exc:
                    if exc.bytes_sent:
                        self._send_broken = (
                            f"an earlier send_message stopped after {exc.bytes_sent} of the "
                            f"{total} bytes of a frame"
                        )
                    raise

    # -- receiving -----------------------------------------------------------------

    def recv_message(self) -> bytes | None:
        """Receive one whole message; ``None`` when the peer ended the stream between messages.

        Raises :class:`~transports.errors.FrameTooLarge` for a header over
        :attr:`max_size` (nothing of the body is read) and
        :class:`~transports.errors.UnexpectedEOF` when the stream ends
        inside a message.
        """
        with self._recv_lock:
            if self._recv_broken is not None:
                raise self._out_of_step("recv_message", self._recv_broken)
            waits = _Waits(self._transport)
            try:
                return self._receive(waits)
            except TimeoutError as exc:
                where = _where(self._transport)
                raise _timed_out("recv_message", where, self._progress(), waits.timeout) from exc
            finally:
                waits.restore()

    def _receive(self, waits: _Waits) -> bytes | None:
        size = self._body_size
        if size is None:
            with memoryview(self._head) as head:
                while self._head_got < HEADER_SIZE:
                    count = waits.recv_into(head[self._head_got :])
                    if not count:
                        self._ended_in_header()
                        return None
                    self._head_got += count
            (size,) = _HEADER.unpack(self._head)
            self._head_got = 0
            if size > self._max_size:
                where = _where(self._transport)
                self._recv_broken = (
                    f"an earlier message announced {size} bytes, over the limit of {self._max_size}"
                )
                raise FrameTooLarge(
                    f"recv_message {where}: the peer announced a {size}-byte message, over this "
                    f"stream's limit of {self._max_size} bytes; nothing of it was read; the stream "
                    "is out of step now: close it (or raise max_size on both ends)",
                    size=size,
                    limit=self._max_size,
                    op="recv_message",
                    address=where,
                    receiving=True,
                )
            if size == 0:
                return b""
            self._start_body(size)
        parts = self._parts
        while self._body_got < size:
            if self._body_got == self._room:
                self._grow(size)
            last = parts[-1]
            # Every piece before the last is full: the free room is at the end of the last.
            count = waits.recv_into(last[len(last) - (self._room - self._body_got) :])
            if not count:
                self._ended_in_body(size)
            self._body_got += count
        message = parts[0].tobytes() if len(parts) == 1 else b"".join(parts)
        self._end_body()
        if size <= _KEEP and len(self._buffer) < size:
            # A whole message of this size arrived: keep room for one like it
            # next time (doubling, so a run of growing sizes allocates rarely).
            self._buffer = bytearray(max(size, min(2 * len(self._buffer), _KEEP, self._max_size)))
        return message

    def _start_body(self, size: int) -> None:
        """Offer the first room for a *size*-byte body: what is kept, or at most _FIRST_STEP new bytes."""
        first = min(size, max(_FIRST_STEP, len(self._buffer)))
        if len(self._buffer) < first:
            self._buffer = bytearray(max(first, min(2 * len(self._buffer), _FIRST_STEP, self._max_size)))
        self._body_size = size
        self._body_got = 0
        self._parts = [memoryview(self._buffer)[:first]]
        self._room = first

    def _grow(self, size: int) -> None:
        """All the room is full and more of the body is due: offer as much again as arrived, within *size*."""
        step = min(size - self._room, self._room)
        self._parts.append(memoryview(bytearray(step)))
        self._room += step

    def _end_body(self) -> None:
        """Forget the body's pieces: the kept buffer stays, the others are given back."""
        self._parts = []
        self._body_size = None
        self._body_got = self._room = 0

    def _ended_in_body(self, size: int) -> NoReturn:
        """The stream ended inside a body: raise UnexpectedEOF with the bytes that did arrive."""
        got = self._body_got
        parts = self._parts
        last = parts[-1]
        partial = b"".join([*parts[:-1], last[: len(last) - (self._room - got)]])
        self._end_body()
        where = _where(self._transport)
        raise UnexpectedEOF(
            f"recv_message {where}: the peer ended the stream after {got} of the "
            f"{size} bytes of a message; they are in .partial",
            partial=partial,
            expected=size,
            op="recv_message",
            address=where,
        )

    def _ended_in_header(self) -> None:
        """The stream ended before a header was complete: fine before its first byte."""
        got, self._head_got = self._head_got, 0
        if not got:
            return
        where = _where(self._transport)
        raise UnexpectedEOF(
            f"recv_message {where}: the peer ended the stream {got} bytes into a message's "
            f"{HEADER_SIZE}-byte length header; they are in .partial",
            partial=bytes(self._head[:got]),
            expected=HEADER_SIZE,
            op="recv_message",
            address=where,
        )

    def _progress(self) -> str:
        if self._body_size is not None:
            return f"after {self._body_got} of the {self._body_size} bytes of a message"
        if self._head_got:
            return f"after {self._head_got} bytes of a message's {HEADER_SIZE}-byte length header"
        return "waiting for a message"

    def _out_of_step(self, op: str, why: str) -> FrameError:
        where = _where(self._transport)
        return FrameError(
            f"{op} {where}: the stream is out of step ({why}); message boundaries are lost: "
            "close this transport and connect again",
            op=op,
            address=where,
        )

    # -- the rest -------------------------------------------------------------------

    def __iter__(self) -> Iterator[bytes]:
        """Receive messages until the peer ends the stream between two of them."""
        while (message := self.recv_message()) is not None:
            yield message

    def close(self) -> None:
        """Close the transport; closing again does nothing."""
        self._transport.close()

    def __repr__(self) -> str:
        return f"<MessageStream max_size={self._max_size} over {self._transport!r}>"


class LineStream(CloseOnExit):
    """Delimited messages over a byte stream: lines (APUE 16.5 Data Transfer, 14.6 readv and writev).

    ``send_message`` writes a line and the delimiter (``b"\\n"`` unless
    told otherwise) in one gather write; ``recv_message`` returns the next
    line without its delimiter, or ``None`` when the peer ended the stream
    between lines. A line may not contain the delimiter.

    >>> from transports import socketpair
    >>> a, b = socketpair()
    >>> b.timeout = 5
    >>> left, right = LineStream(a), LineStream(b)
    >>> left.send_message(b"HELO example.org")
    >>> left.transport.send_all(b"QUIT\\r\\nhalf a li")
    >>> left.transport.shutdown("write")
    >>> right.recv_message(), right.recv_message()
    (b'HELO example.org', b'QUIT\\r')
    >>> right.recv_message()
    Traceback (most recent call last):
      ...
    transports.errors.UnexpectedEOF: recv_message ...: the peer ended the stream inside a line: ...
    >>> left.close(); right.close()

    Unlike :class:`MessageStream` it reads ahead to find the delimiter:
    bytes after the last line returned are kept in :attr:`buffered`. Its
    buffer starts at 4 KiB and doubles only when it is full of bytes that
    arrived, so memory follows what the peer sent, never *max_length*; room
    over 256 KiB that a long line needed is given back once lines are short
    again. A line longer than *max_length* raises
    :class:`~transports.errors.FrameTooLarge` as soon as that many bytes
    arrived without a delimiter, so no more than
    ``max(64 KiB, max_length + len(delimiter))`` bytes are ever held. The
    stream cut inside a line raises :class:`~transports.errors.UnexpectedEOF`
    with the line's bytes in ``partial``. Timeouts, locks and closing work as
    for :class:`MessageStream`.
    """

    __slots__ = (
        "_buf",
        "_capacity",
        "_delimiter",
        "_end",
        "_max_length",
        "_recv_broken",
        "_recv_lock",
        "_scan",
        "_send_broken",
        "_send_lock",
        "_start",
        "_transport",
    )

    def __init__(
        self,
        transport: StreamTransport,
        *,
        delimiter: bytes = b"\n",
        max_length: int = DEFAULT_MAX_LINE,
    ) -> None:
        """Split the bytes of *transport* at *delimiter*; a line holds at most *max_length* bytes."""
        self._transport = _check_stream("LineStream", transport)
        self._delimiter = _check_delimiter(delimiter)
        self._max_length = _check_limit("max_length", max_length, 1 << 40)
        self._capacity = max(_CHUNK, max_length + len(delimiter))
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._send_broken: str | None = None
        self._recv_broken: str | None = None
        self._buf = bytearray()
        self._start = 0  # the unread bytes are _buf[_start:_end]
        self._end = 0
        self._scan = 0  # no delimiter starts before this index

    @property
    def transport(self) -> StreamTransport:
        """The byte stream the lines travel over."""
        return self._transport

    @property
    def delimiter(self) -> bytes:
        """What ends each line."""
        return self._delimiter

    @property
    def max_length(self) -> int:
        """The longest line, delimiter excluded, this stream sends or accepts."""
        return self._max_length

    @property
    def buffered(self) -> bytes:
        """Bytes received after the last line returned: read them before using the transport directly."""
        return bytes(self._buf[self._start : self._end])

    def send_message(self, line: Buffer) -> None:
        """Send *line* followed by the delimiter, in one gather write (APUE 14.6 readv and writev).

        A line containing the delimiter raises :class:`ValueError` and a line
        over :attr:`max_length` :class:`~transports.errors.FrameTooLarge`,
        both before anything is sent.
        """
        with memoryview(line) as raw, raw.cast("B") as body:
            size = len(body)
            if size > self._max_length:
                where = _where(self._transport)
                raise FrameTooLarge(
                    f"send_message {where}: a {size}-byte line is over this stream's limit of "
                    f"{self._max_length} bytes; nothing was sent; shorten it or raise max_length "
                    "on both ends",
                    size=size,
                    limit=self._max_length,
                    op="send_message",
                    address=where,
                )
            found = _delimiter_at(body, self._delimiter)
            if found >= 0:
                raise ValueError(
                    f"send_message: the delimiter {self._delimiter!r} would be found at byte "
                    f"{found} of the line (with its delimiter after it), so the peer would read "
                    "the line cut short; send the parts as separate lines, or use a "
                    "MessageStream for arbitrary bytes"
                )
            with memoryview(self._delimiter) as tail, self._send_lock:
                if self._send_broken is not None:
                    raise self._out_of_step("send_message", self._send_broken)
                total = size + len(self._delimiter)
                try:
                    _send_parts(self._transport, (body, tail), total, "send_message")
                except TransportError as exc:
                    if exc.bytes_sent:
                        self._send_broken = (
                            f"an earlier send_message stopped after {exc.bytes_sent} of the "
                            f"{total} bytes of a line"
                        )
                    raise

    def recv_message(self) -> bytes | None:
        """Receive the next line without its delimiter; ``None`` when the peer ended the stream between lines."""
        with self._recv_lock:
            if self._recv_broken is not None:
                raise self._out_of_step("recv_message", self._recv_broken)
            waits = _Waits(self._transport)
            try:
                return self._receive(waits)
            except TimeoutError as exc:
                progress = f"with {self._end - self._start} bytes of a line and no delimiter"
                where = _where(self._transport)
                raise _timed_out("recv_message", where, progress, waits.timeout) from exc
            finally:
                waits.restore()

    def _receive(self, waits: _Waits) -> bytes | None:
        delimiter = self._delimiter
        while True:
            found = self._buf.find(delimiter, self._scan, self._end)
            # Without a delimiter yet, the line is at least as long as the
            # bytes so far less the start of a delimiter still arriving.
            length = found - self._start if found >= 0 else self._end - self._start - len(delimiter) + 1
            if length > self._max_length:
                where = _where(self._transport)
                what = f"a {length}-byte line" if found >= 0 else f"a line of at least {length} bytes"
                self._recv_broken = f"an earlier line ran over the limit of {self._max_length} bytes"
                raise FrameTooLarge(
                    f"recv_message {where}: the peer sent {what}, over this stream's limit of "
                    f"{self._max_length} bytes per line; the stream is out of step now: close it "
                    "(or raise max_length on both ends)",
                    size=length,
                    limit=self._max_length,
                    op="recv_message",
                    address=where,
                    receiving=True,
                )
            if found >= 0:
                with memoryview(self._buf) as view:
                    line = bytes(view[self._start : found])
                self._start = self._scan = found + len(delimiter)
                if len(self._buf) > _KEEP and self._start == self._end and len(self._buf) > 4 * len(line):
                    # Nothing read ahead, and lines are short again: give back
                    # the room an earlier long line needed (a run of long lines
                    # keeps it, instead of growing it again for each one).
                    self._start = self._end = self._scan = 0
                    self._buf = self._buf[:_KEEP]
                return line
            self._scan = max(self._start, self._end - len(delimiter) + 1)
            if not self._fill(waits):
                self._ended()
                return None

    def _fill(self, waits: _Waits) -> int:
        """Receive more bytes after the unread ones; 0 at end of stream."""
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
        with memoryview(self._buf) as view:
            count = waits.recv_into(view[self._end :])
        self._end += count
        return count

    def _ended(self) -> None:
        """The stream ended: fine between lines, an error inside one."""
        unread = self._end - self._start
        if not unread:
            return
        partial = bytes(self._buf[self._start : self._end])
        self._start = self._end = self._scan = 0
        where = _where(self._transport)
        raise UnexpectedEOF(
            f"recv_message {where}: the peer ended the stream inside a line: {unread} bytes "
            f"with no {self._delimiter!r} after them; they are in .partial",
            partial=partial,
            expected=unread + len(self._delimiter),
            op="recv_message",
            address=where,
        )

    def _out_of_step(self, op: str, why: str) -> FrameError:
        where = _where(self._transport)
        return FrameError(
            f"{op} {where}: the stream is out of step ({why}); line boundaries are lost: "
            "close this transport and connect again",
            op=op,
            address=where,
        )

    def __iter__(self) -> Iterator[bytes]:
        """Receive lines until the peer ends the stream between two of them."""
        while (line := self.recv_message()) is not None:
            yield line

    def close(self) -> None:
        """Close the transport; closing again does nothing."""
        self._transport.close()

    def __repr__(self) -> str:
        return f"<LineStream delimiter={self._delimiter!r} max_length={self._max_length} over {self._transport!r}>"
