"""Framed messages over an async byte stream: the waiting around a codec (:apue:`16.5`, :apue:`14.6`, :apue:`16.8`, :apue:`14.4`).

The async face of :mod:`transports.framing`: :class:`MessageStream` and
:class:`LineStream` take any :class:`transports.aio.StreamTransport` and
drive the very codecs of :mod:`transports.framing.codec` that the sync
streams drive, so limits, errors and the out-of-step rules are the same
code. Constructors and properties are shared with the sync face
(:mod:`transports.framing._common`); this module only waits. On our own
transports a frame leaves in ``sendmsg`` gather writes and each receive
goes straight into the room the codec offers, waiting on the event loop
when the socket is empty; on any other transport it calls ``send_all`` and
``recv_into``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, Self, cast

from transports._closing import CloseOnAsyncExit
from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.sockflags import NOSIGNAL
from transports.aio._stream import StreamOps
from transports.aio.protocols import StreamTransport
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

__all__ = ["AsyncFramedStream", "LineStream", "MessageStream"]


async def _send_gather(
    transport: StreamOps[Any, Any], parts: Sequence[memoryview], total: int, op: str, sent: int
) -> None:
    """Send the rest of *parts* (*total* bytes, *sent* of them gone) in ``sendmsg`` gather writes (:apue:`14.6`).

    On one of our transports, after a first try that did not send it all.
    As its ``send_all``: the timeout covers the whole call, an error carries
    ``bytes_sent``, ``last_bytes_sent`` counts what went out however the
    call ended, and a send waiting for room marks the transport busy.
    """
    if transport._busy_send is not None:
        raise transport._conflict(op, True)
    sock = transport._sock
    try:
        deadline = transport._deadline() if transport._timeout else None
        while sent < total:
            if transport._timeout == 0:
                sent += sock.sendmsg(unsent(parts, sent), (), NOSIGNAL)  # until the kernel says EAGAIN
                continue
            await transport._wait_busy(True, deadline, op, sent)
            try:
                sent += sock.sendmsg(unsent(parts, sent), (), NOSIGNAL)
            except BlockingIOError:
                continue
    except OSError as exc:
        transport._fail(exc, op, sent=sent)
    finally:
        transport._last_sent = sent


async def _recv_some(
    transport: StreamOps[Any, Any], view: memoryview, deadline: Deadline | None, op: str
) -> int:
    """One receive of a framed read into *view* on one of our transports, after a try that found nothing.

    Bytes a cancelled receive kept come first. Otherwise it waits for the
    socket, within *deadline* (TransportTimeout once it passes), marking the
    transport busy meanwhile; with a timeout of 0 it raises WouldBlock
    instead. A cancellation lands on the wait, before anything was read.
    """
    if transport._busy_recv is not None:
        raise transport._conflict(op, False)
    if pending := transport._pending:
        count = min(len(view), len(pending))
        view[:count] = pending[:count]
        transport._pending = pending[count:]
        return count
    sock = transport._sock
    try:
        if transport._timeout == 0:
            return sock.recv_into(view)
        while True:
            await transport._wait_busy(False, deadline, op)
            try:
                return sock.recv_into(view)
            except BlockingIOError:
                continue
    except OSError as exc:
        raise transport._error(exc, op) from exc


class _Turns:
    """A lock for one direction of a stream that costs nothing while nobody waits (:apue:`16.8`).

    ``busy`` is set by the task whose turn it is; the others queue on
    futures and are handed the turn in order when it ends.
    """

    __slots__ = ("busy", "waiters")

    def __init__(self) -> None:
        self.busy = False
        self.waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """Take the turn if it is free; ``False`` when the caller must :meth:`wait` for it."""
        if self.busy:
            return False
        self.busy = True
        return True

    async def wait(self) -> None:
        """Wait for this task's turn (after :meth:`take` said no)."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.done()  # the turn came with the cancellation: pass it on
            else:
                self.waiters.remove(waiter)
            raise

    def done(self) -> None:
        """End the current turn: hand it to the first waiter, or free it."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # busy stays set: the turn passes on
                return
        self.busy = False


class AsyncFramedStream(Framing[StreamTransport], CloseOnAsyncExit):
    """Messages over an async byte stream, framed by a codec (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`); see :class:`MessageStream`."""

    __slots__ = ("_ours", "_recv_turns", "_send_turns")

    def _accept(self, owner: str, transport: object) -> StreamTransport:
        return cast(StreamTransport, check_stream(owner, transport, StreamTransport, async_face=True))

    def _setup(self, transport: StreamTransport, codec: Codec) -> None:
        super()._setup(transport, codec)
        # Ours: a socket to gather-write to and receive from straight away.
        self._ours = isinstance(transport, StreamOps)
        self._send_turns = _Turns()
        self._recv_turns = _Turns()

    async def send_message(self, data: Buffer) -> None:
        """Send *data* as one message with its framing (:apue:`14.6`, :apue:`16.8`).

        The sync ``send_message``, awaited: it returns once the kernel has
        taken all of it, refuses a message over the limit (or a line the
        peer would read cut short) before sending anything, and counts in
        an error's ``bytes_sent`` the bytes of the frame that went out. Tasks
        sending at once take turns (a lock), so their messages never
        interleave. A send cancelled part-way through a frame leaves the
        peer out of step: later sends raise :class:`~transports.FrameError`.
        """
        codec = self._codec
        with memoryview(data) as raw, raw.cast("B") as body:
            parts = codec.frame(body)
            turns = self._send_turns
            if not turns.take():
                await turns.wait()
            try:
                codec.check_send()
                total = len(parts[0]) + len(parts[1])
                transport = self._transport
                done = 0
                try:
                    if self._ours:
                        ours = cast("StreamOps[Any, Any]", transport)
                        sent = 0
                        if ours._busy_send is None:  # else _send_gather refuses it
                            try:
                                sent = ours._sock.sendmsg(parts, (), NOSIGNAL)
                            except BlockingIOError:
                                pass
                            except OSError as exc:
                                ours._fail(exc, "send_message", sent=0)
                            if sent == total:
                                ours._last_sent = sent
                                return
                        await _send_gather(ours, parts, total, "send_message", sent)
                        return
                    for piece in send_plan(parts, total):
                        await transport.send_all(piece)
                        done += len(piece)
                except TransportError as exc:
                    exc.bytes_sent = done + (exc.bytes_sent or 0)
                    codec.send_failed(exc.bytes_sent, total)
                    raise
                except asyncio.CancelledError:
                    codec.send_failed(done + (transport.last_bytes_sent or 0), total)
                    raise
            finally:
                turns.done()

    async def recv_message(self) -> bytes | None:
        """Receive the next whole message (a line without its delimiter); ``None`` at a clean end (:apue:`16.5`, :apue:`16.8`).

        The sync ``recv_message``, awaited, with the same errors. The
        transport's timeout covers the whole call; when it runs out, or the
        call is cancelled, in the middle of a message, what arrived is kept
        and the next call goes on from there. Tasks receiving at once take
        turns (a lock), each getting whole messages.
        """
        codec = self._codec
        turns = self._recv_turns
        if not turns.take():
            await turns.wait()
        try:
            codec.check_recv()
            transport = self._transport
            ours = cast("StreamOps[Any, Any]", transport) if self._ours else None
            budget = None if ours is not None else TimeoutBudget(transport)
            timeout = transport.timeout
            deadline = Deadline(timeout) if timeout and ours is not None else None
            try:
                while (message := codec.take()) is None:
                    if ours is not None:
                        room = codec.room()
                        try:
                            if ours._pending or ours._busy_recv is not None:
                                raise BlockingIOError  # _recv_some hands out the one, refuses the other
                            count = ours._sock.recv_into(room)
                        except BlockingIOError:
                            count = await _recv_some(ours, room, deadline, "recv_message")
                        except OSError as exc:
                            raise ours._error(exc, "recv_message") from exc
                    else:
                        assert budget is not None
                        if budget.calls:
                            budget.next_call()
                        else:
                            budget.start()
                        budget.calls += 1
                        count = await transport.recv_into(codec.room())
                    if not count:
                        codec.end()
                        return None
                    codec.arrived(count)
                return message
            except TimeoutError as exc:
                raise timed_out("recv_message", describe(transport), codec.progress(), timeout) from exc
            finally:
                if budget is not None:
                    budget.restore()
        finally:
            turns.done()

    def __aiter__(self) -> Self:
        """Iterate over the messages until the peer ends the stream between two of them."""
        return self

    async def __anext__(self) -> bytes:
        """The next message; iteration stops at a clean end of the stream."""
        message = await self.recv_message()
        if message is None:
            raise StopAsyncIteration
        return message

    def close(self) -> None:
        """Close the transport; closing again does nothing. Tasks waiting on it wake with TransportClosed."""
        self._transport.close()


_STREAM_MEMBERS = ("__init__", "transport", "send_message", "recv_message", "close", "aclose")


@listed(*_STREAM_MEMBERS, "max_size")
class MessageStream(MessageFraming[StreamTransport], AsyncFramedStream):
    """Length-prefixed messages over an async byte stream (:apue:`16.5`, :apue:`16.3.1`, :apue:`14.6`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.MessageStream`, over any
    :class:`transports.aio.StreamTransport`: the same wire format (a 4-byte
    length in network byte order, then the bytes), the same *max_size*
    limit, errors and out-of-step rules, from the same codec. ``await
    send_message(data)``, ``await recv_message()`` (``None`` at a clean
    end), ``async for message in stream``, ``async with``, ``close()`` and
    ``aclose()``.

    >>> import asyncio
    >>> from transports import aio
    >>> async def main():
    ...     a, b = aio.socketpair()
    ...     async with aio.MessageStream(a) as left, aio.MessageStream(b) as right:
    ...         await left.send_message(b"hello")
    ...         await left.send_message(b"")
    ...         a.shutdown("write")
    ...         return [message async for message in right]
    >>> asyncio.run(main())
    [b'hello', b'']

    Against a hostile peer it holds what the sync stream holds: a header
    over *max_size* is refused before anything is reserved for its body;
    memory grows with the bytes that arrived, never with the size a header
    announced; a message that trickles in across timeouts (or cancelled
    calls) is resumed where it stopped. Tasks sending at once take turns on
    a lock, so their messages never interleave; so do tasks receiving.
    While a ``send_message`` waits for room, another task's ``send_all`` on
    the transport itself raises :class:`RuntimeError` instead of cutting
    into the frame (see :mod:`transports.aio`).
    """

    __slots__ = ()


@listed(*_STREAM_MEMBERS, "delimiter", "max_length", "buffered")
class LineStream(LineFraming[StreamTransport], AsyncFramedStream):
    """Delimited messages over an async byte stream: lines (:apue:`16.5`, :apue:`14.6`, :apue:`16.8`, :apue:`14.4`).

    The twin of :class:`transports.LineStream`: lines ended by *delimiter*
    (``b"\\n"`` by default), at most *max_length* bytes each, read ahead
    into :attr:`buffered`, with the same limits and errors.

    >>> import asyncio
    >>> from transports import aio
    >>> async def main():
    ...     a, b = aio.socketpair()
    ...     async with aio.LineStream(a, delimiter=b"\\r\\n") as left, aio.LineStream(b, delimiter=b"\\r\\n") as right:
    ...         await left.send_message(b"EHLO example.org")
    ...         await a.send_all(b"QUIT\\r\\n")
    ...         return await right.recv_message(), await right.recv_message()
    >>> asyncio.run(main())
    (b'EHLO example.org', b'QUIT')
    """

    __slots__ = ()


# Documented and shown (in reprs and tracebacks) where users import them from.
MessageStream.__module__ = LineStream.__module__ = "transports.aio"
