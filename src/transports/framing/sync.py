"""Framed messages over a blocking byte stream: the I/O around a codec (:apue:`16.5`, :apue:`14.6`, :apue:`14.7`).

:class:`MessageStream` and :class:`LineStream` are both a
:class:`FramedStream`, each over its own codec from
:mod:`transports.framing.codec`. All they add to the codec is the waiting:
a gather write for each frame, receives into the room the codec offers
under one :class:`~transports._core.deadline.Deadline` for the whole
``recv_message``, the locks that keep two threads' frames apart, and
``close()`` waking a receive blocked in another thread.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, cast

from transports._closing import CloseOnExit
from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.sockflags import NOSIGNAL
from transports._core.stream import StreamMixin
from transports.errors import TransportError
from transports.framing._common import (
    Framing,
    LineFraming,
    MessageFraming,
    TimeoutBudget,
    check_stream,
    describe,
    listed,
    send_plan,
    timed_out,
    unsent,
)
from transports.framing.codec import Codec
from transports.protocols import StreamTransport

__all__ = ["FramedStream", "LineStream", "MessageStream"]


class _Waits(TimeoutBudget):
    """The receive calls of one framed read, under one :class:`Deadline` (:apue:`14.7`).

    The transport's timeout covers the whole ``recv_message``, as it covers
    ``recv_exactly``: the first call waits with the timeout as it is, later
    ones with what is left of it.
    """

    __slots__ = ()

    def recv_into(self, view: memoryview) -> int:
        transport: StreamTransport = self._transport
        if not self.calls:
            self.start()
        elif (deadline := self.deadline) is not None:
            sock = getattr(transport, "raw_socket", None)
            if isinstance(sock, socket.socket):
                # Poll instead of shrinking the timeout: a thread sending on the
                # same socket keeps the timeout it set.
                _wait_readable(transport, sock, deadline)
            else:
                self.next_call()
        self.calls += 1
        return transport.recv_into(view)


def _wait_readable(transport: StreamTransport, sock: socket.socket, deadline: Deadline) -> None:
    """Wait until *sock* has input, within *deadline*; TimeoutError once it is spent.

    On one of our transports the wait counts as a call in flight, so that
    ``close()`` from another thread wakes it (:apue:`16.2`): the receive that
    follows then reports the transport closed.
    """
    owner = transport if isinstance(transport, StreamMixin) else None
    if owner is not None:
        owner._enter()
    try:
        if sock.fileno() >= 0:  # closed already: the receive says so
            deadline.wait(sock, writing=False)
    finally:
        if owner is not None:
            owner._leave()


def _send_parts(transport: StreamTransport, parts: Sequence[memoryview], total: int, op: str) -> None:
    """Send *parts* back to back, as one gather write when the transport is one of ours (:apue:`14.6`).

    Raises a :class:`~transports.TransportError` whose ``bytes_sent``
    counts the bytes of all parts that the kernel took.
    """
    if isinstance(transport, StreamMixin):
        _sendmsg_all(transport, parts, total, op)
        return
    done = 0
    for part in send_plan(parts, total):
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
    # another thread wakes it with TransportClosed (:apue:`16.2`).
    transport._enter()
    try:
        sent = sock.sendmsg(parts, (), NOSIGNAL)
        if sent == total:
            return
        deadline = Deadline(sock.gettimeout(), start=start)
        while sent < total:
            deadline.before_next_call(sock, writing=True)
            sent += sock.sendmsg(unsent(parts, sent), (), NOSIGNAL)
    except OSError as exc:
        raise transport._error(exc, op, bytes_sent=sent) from exc
    finally:
        transport._leave()


class FramedStream(Framing[StreamTransport], CloseOnExit):
    """Messages over a byte stream, framed by a codec (:apue:`16.5`); see :class:`MessageStream` and :class:`LineStream`."""

    __slots__ = ("_recv_lock", "_send_lock")

    def _accept(self, owner: str, transport: object) -> StreamTransport:
        return cast(StreamTransport, check_stream(owner, transport, StreamTransport, async_face=False))

    def _setup(self, transport: StreamTransport, codec: Codec) -> None:
        super()._setup(transport, codec)
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()

    def send_message(self, data: Buffer) -> None:
        """Send *data* as one message with its framing, in one gather write (:apue:`14.6`).

        Returns once the kernel has taken all of it. A message over the
        limit raises :class:`~transports.FrameTooLarge`, and a line
        the peer would read cut short (it holds the delimiter)
        :class:`ValueError`, both before anything is sent. On an error the
        exception's ``bytes_sent`` counts the bytes of the frame (header or
        delimiter included) that went out; if some did, the peer is out of
        step and later sends raise :class:`~transports.FrameError`.
        """
        codec = self._codec
        with memoryview(data) as raw, raw.cast("B") as body:
            parts = codec.frame(body)
            with self._send_lock:
                codec.check_send()
                total = len(parts[0]) + len(parts[1])
                try:
                    _send_parts(self._transport, parts, total, "send_message")
                except TransportError as exc:
                    codec.send_failed(exc.bytes_sent, total)
                    raise

    def recv_message(self) -> bytes | None:
        """Receive the next whole message (a line without its delimiter); ``None`` when the peer ended the stream between messages.

        Raises :class:`~transports.FrameTooLarge` for a message over
        the limit (for a length header, before anything of the body is
        read), :class:`~transports.UnexpectedEOF` when the stream
        ends inside a message, and
        :class:`~transports.TransportTimeout` when the timeout runs
        out first: what arrived is kept, and the next call goes on from there.
        """
        codec = self._codec
        with self._recv_lock:
            codec.check_recv()
            waits = _Waits(self._transport)
            try:
                while (message := codec.take()) is None:
                    count = waits.recv_into(codec.room())
                    if not count:
                        codec.end()
                        return None
                    codec.arrived(count)
                return message
            except TimeoutError as exc:
                where = describe(self._transport)
                raise timed_out("recv_message", where, codec.progress(), waits.timeout) from exc
            finally:
                waits.restore()

    def __iter__(self) -> Iterator[bytes]:
        """Receive messages until the peer ends the stream between two of them."""
        while (message := self.recv_message()) is not None:
            yield message

    def close(self) -> None:
        """Close the transport; closing again does nothing."""
        self._transport.close()


@listed("__init__", "transport", "max_size", "send_message", "recv_message", "close")
class MessageStream(MessageFraming[StreamTransport], FramedStream):
    """Length-prefixed messages over a byte stream (:apue:`16.5`, :apue:`16.3.1`, :apue:`14.6`).

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
      announcing more raises :class:`~transports.FrameTooLarge`
      before one byte of the body is read or any memory is reserved for it;
      sending more raises it before anything is sent.
    * Memory follows the bytes that arrived, not the size a header
      announced: the body's buffer starts at ``min(size, 64 KiB)`` and
      grows in pieces that each offer at most as much again as arrived. A
      thousand idle peers that each announced 16 MiB cost a thousand times
      64 KiB, not 16 GiB. A body is received straight into these pieces and
      copied once, into the returned ``bytes``.
    * The stream cut inside a message raises
      :class:`~transports.UnexpectedEOF` whose ``partial`` holds the
      bytes of that message that arrived (of the header, when it was cut
      there) and ``expected`` how many were announced.
    * The transport's timeout covers one whole ``recv_message`` or
      ``send_message`` (over a transport that is not one of ours, a message
      of 64 KiB or more is sent as two ``send_all`` calls, each with the
      whole timeout). When a receive times out (or, with timeout 0, would
      block) in the middle of a message, what arrived is kept and the next
      ``recv_message`` goes on from there, so the stream can be read from a
      ``select`` loop (:apue:`14.4`).
    * A send that stopped part-way through a message (timeout, error) leaves
      the peer out of step: later sends raise
      :class:`~transports.FrameError`; so do receives after a
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

    __slots__ = ()


@listed(
    "__init__", "transport", "delimiter", "max_length", "buffered", "send_message", "recv_message", "close"
)
class LineStream(LineFraming[StreamTransport], FramedStream):
    """Delimited messages over a byte stream: lines (:apue:`16.5`, :apue:`14.6`).

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
    :class:`~transports.FrameTooLarge` as soon as that many bytes
    arrived without a delimiter, so no more than
    ``max(64 KiB, max_length + len(delimiter))`` bytes are ever held. The
    stream cut inside a line raises :class:`~transports.UnexpectedEOF`
    with the line's bytes in ``partial``. Timeouts, locks and closing work as
    for :class:`MessageStream`.
    """

    __slots__ = ()
