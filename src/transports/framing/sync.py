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

import errno
import functools
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from transports._closing import CloseOnExit
from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.sockflags import NOSIGNAL
from transports._core.stream import StreamMixin
from transports.errors import TransportError, TransportTimeout
from transports.framing.codec import DEFAULT_MAX_LINE, DEFAULT_MAX_SIZE, Codec, LineCodec, MessageCodec
from transports.protocols import StreamTransport, Transport

__all__ = ["FramedStream", "LineStream", "MessageStream"]

_S = TypeVar("_S", bound="FramedStream")

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


def _check_stream(owner: str, transport: object) -> StreamTransport:
    if not isinstance(transport, StreamTransport):
        raise TypeError(
            f"{owner} needs a byte-stream transport (TCP or Unix stream), got {transport!r}; "
            "datagram and seqpacket transports keep message boundaries already: send one "
            "message per send"
        )
    return transport


class _Waits:
    """The receive calls of one framed read, under one :class:`Deadline` (:apue:`14.7`).

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
        elif (deadline := self._deadline) is not None:
            sock = getattr(transport, "raw_socket", None)
            if isinstance(sock, socket.socket):
                # Poll instead of shrinking the timeout: a thread sending on the
                # same socket keeps the timeout it set.
                _wait_readable(transport, sock, deadline)
            else:
                left = deadline.left()
                if not left:
                    raise TimeoutError("timed out")
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
    """Send *parts* back to back, as one gather write when the transport is one of ours (:apue:`14.6`).

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
    # another thread wakes it with TransportClosed (:apue:`16.2`).
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


class FramedStream(CloseOnExit):
    """Messages over a byte stream, framed by a codec (:apue:`16.5`); see :class:`MessageStream` and :class:`LineStream`."""

    __slots__ = ("_codec", "_recv_lock", "_send_lock", "_transport")

    def __init__(self, transport: StreamTransport, codec: Codec) -> None:
        self._transport = transport
        self._codec = codec
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()

    @property
    def transport(self) -> StreamTransport:
        """The byte stream the messages travel over."""
        return self._transport

    def send_message(self, data: Buffer) -> None:
        """Send *data* as one message with its framing, in one gather write (:apue:`14.6`).

        Returns once the kernel has taken all of it. A message over the
        limit raises :class:`~transports.errors.FrameTooLarge`, and a line
        the peer would read cut short (it holds the delimiter)
        :class:`ValueError`, both before anything is sent. On an error the
        exception's ``bytes_sent`` counts the bytes of the frame (header or
        delimiter included) that went out; if some did, the peer is out of
        step and later sends raise :class:`~transports.errors.FrameError`.
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

        Raises :class:`~transports.errors.FrameTooLarge` for a message over
        the limit (for a length header, before anything of the body is
        read), :class:`~transports.errors.UnexpectedEOF` when the stream
        ends inside a message, and
        :class:`~transports.errors.TransportTimeout` when the timeout runs
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
                where = _where(self._transport)
                raise _timed_out("recv_message", where, codec.progress(), waits.timeout) from exc
            finally:
                waits.restore()

    def __iter__(self) -> Iterator[bytes]:
        """Receive messages until the peer ends the stream between two of them."""
        while (message := self.recv_message()) is not None:
            yield message

    def close(self) -> None:
        """Close the transport; closing again does nothing."""
        self._transport.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()} over {self._transport!r}>"

    def _describe(self) -> str:
        raise NotImplementedError


def _listed(cls: type[_S]) -> type[_S]:
    """Put :class:`FramedStream`'s public members in *cls*'s own namespace, so its docs list them too."""
    for name in ("transport", "send_message", "recv_message", "close"):
        setattr(cls, name, vars(FramedStream)[name])
    return cls


@_listed
class MessageStream(FramedStream):
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
      ``select`` loop (:apue:`14.4`).
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

    __slots__ = ()

    _codec: MessageCodec

    def __init__(self, transport: StreamTransport, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        """Frame messages over *transport*, each at most *max_size* bytes."""
        transport = _check_stream("MessageStream", transport)
        super().__init__(transport, MessageCodec(max_size, where=functools.partial(_where, transport)))

    @property
    def max_size(self) -> int:
        """The largest message this stream sends or accepts, in bytes."""
        return self._codec.limit

    def _describe(self) -> str:
        return f"max_size={self._codec.limit}"


@_listed
class LineStream(FramedStream):
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
    :class:`~transports.errors.FrameTooLarge` as soon as that many bytes
    arrived without a delimiter, so no more than
    ``max(64 KiB, max_length + len(delimiter))`` bytes are ever held. The
    stream cut inside a line raises :class:`~transports.errors.UnexpectedEOF`
    with the line's bytes in ``partial``. Timeouts, locks and closing work as
    for :class:`MessageStream`.
    """

    __slots__ = ()

    _codec: LineCodec

    def __init__(
        self,
        transport: StreamTransport,
        *,
        delimiter: bytes = b"\n",
        max_length: int = DEFAULT_MAX_LINE,
    ) -> None:
        """Split the bytes of *transport* at *delimiter*; a line holds at most *max_length* bytes."""
        transport = _check_stream("LineStream", transport)
        codec = LineCodec(delimiter, max_length, where=functools.partial(_where, transport))
        super().__init__(transport, codec)

    @property
    def delimiter(self) -> bytes:
        """What ends each line."""
        return self._codec.delimiter

    @property
    def max_length(self) -> int:
        """The longest line, delimiter excluded, this stream sends or accepts."""
        return self._codec.limit

    @property
    def buffered(self) -> bytes:
        """Bytes received after the last line returned: read them before using the transport directly."""
        return self._codec.buffered

    def _describe(self) -> str:
        return f"delimiter={self._codec.delimiter!r} max_length={self._codec.limit}"
