"""Byte streams: ``shutdown``, ``send_all`` and ``recv_exactly`` (:apue:`14.7`, :apue:`16.2`).

The loops spread the socket's timeout over the whole call with one
:class:`~transports._core.deadline.Deadline`, and never lose the count of
what was sent or received when an error (or a signal handler) interrupts them.
"""

from __future__ import annotations

import contextlib
import socket
import time

from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.owner import pid_global
from transports._core.sockflags import NOSIGNAL
from transports._core.transport import GROW_STEP, AddrT, SocketTransport
from transports._core.validate import check_size
from transports.errors import TransportError, UnexpectedEOF
from transports.flags import SendFlags
from transports.protocols import ShutdownHow

#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())

_SHUT = {"read": socket.SHUT_RD, "write": socket.SHUT_WR, "both": socket.SHUT_RDWR}


def note_progress(exc: BaseException, note: str, **attributes: object) -> None:
    """Attach how far a loop got to an exception that is not ours (one a signal handler raised)."""
    exc.add_note(note)
    for name, value in attributes.items():
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, name, value)


class ShutdownMixin(SocketTransport[AddrT]):
    """Half-close for connection-oriented kinds (stream and seqpacket, :apue:`16.2`)."""

    __slots__ = ()

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Close one direction of the connection (:apue:`16.2`).

        ``"write"`` sends end-of-stream: the peer's ``recv`` returns ``b""``
        while this end can still read its answer (a half-close).
        """
        try:
            code = _SHUT[how]
        except KeyError:
            raise ValueError(f"shutdown how must be 'read', 'write' or 'both', got {how!r}") from None
        try:
            self._sock.shutdown(code)
        except OSError as exc:
            raise self._error(exc, "shutdown") from exc


class StreamMixin(ShutdownMixin[AddrT]):
    """``send_all``, ``recv_exactly`` and ``shutdown`` for byte streams (:apue:`14.7`, :apue:`16.2`)."""

    __slots__ = ()

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return only once all of *data* was handed to the kernel (:apue:`14.7`).

        The timeout covers the whole call. On a timeout or an error, the
        exception's ``bytes_sent`` tells how many bytes the kernel took.
        """
        bits = self._send_bits(flags) if flags else NOSIGNAL
        sock = self._sock
        start = time.monotonic()
        calls = self._calls
        calls.append(_PID)
        try:
            try:
                sent = self._call(bits, sock.send, data, bits) if flags else sock.send(data, bits)
            except OSError as exc:
                raise self._error(exc, "send_all", bytes_sent=0) from exc
            # One call nearly always takes everything on a blocking socket. For the
            # common buffer types, know it without making (and releasing) a view.
            kind = type(data)
            if (kind is bytes or kind is bytearray) and sent == len(data):  # type: ignore[arg-type]
                return
            if kind is memoryview and sent == data.nbytes:  # type: ignore[attr-defined]
                return
            self._send_rest(data, sent, bits, start)
        finally:
            del calls[-1]
            if self._closed:
                self._settle()

    def _send_rest(self, data: Buffer, sent: int, bits: int, start: float) -> None:
        """The rest of ``send_all`` after a first call took *sent* bytes."""
        sock = self._sock
        with memoryview(data) as whole, whole.cast("B") as view:
            total = len(view)
            if sent == total:
                return
            deadline = Deadline(sock.gettimeout(), start=start)
            try:
                while sent < total:
                    deadline.before_next_call(sock, writing=True)
                    sent += self._call(bits, sock.send, view[sent:], bits)
            except OSError as exc:
                raise self._error(exc, "send_all", bytes_sent=sent) from exc
            except BaseException as exc:
                # A signal handler that raises (KeyboardInterrupt ...) must not lose the count.
                note_progress(exc, f"send_all: {sent} of {total} bytes were sent", bytes_sent=sent)
                raise

    def recv_exactly(self, n: int) -> bytes:
        """Return exactly *n* bytes (:apue:`14.7`).

        Raises :class:`~transports.UnexpectedEOF` carrying the partial
        data if the peer ends the stream first. The timeout covers the whole
        call. Memory grows with the bytes that arrive, never with *n*: asking
        for 1 GiB when the peer sends 3 bytes costs 3 bytes (and a bounded step).
        """
        if type(n) is not int or n < 0:
            check_size("n", n)
        start = time.monotonic()
        calls = self._calls
        calls.append(_PID)
        first = b""
        try:
            first = self._sock.recv(n if n <= GROW_STEP else GROW_STEP)
            if len(first) == n and not self._closed:
                return first  # the common case: the whole message in one piece
            return self._recv_rest(first, n, start)
        except TransportError:
            raise
        except OSError as exc:
            err = self._error(exc, "recv_exactly")
            err.partial = b""
            raise err from exc
        except BaseException as exc:
            if first and getattr(exc, "partial", None) is None:
                # A signal handler that raised between the calls: the first piece is not lost.
                note_progress(
                    exc, f"recv_exactly: {len(first)} of {n} bytes had arrived (in .partial)", partial=first
                )
            raise
        finally:
            del calls[-1]
            if self._closed:
                self._settle()

    def _recv_rest(self, first: bytes, n: int, start: float) -> bytes:
        """The rest of ``recv_exactly`` after a first piece that was short (or came after close())."""
        if self._closed:
            raise self._closed_error("recv_exactly")
        chunks = [first] if first else []
        try:
            if first:
                self._gather(chunks, len(first), n, 0, start)
            data = b"".join(chunks)
        except OSError as exc:
            err = self._error(exc, "recv_exactly")
            err.partial = b"".join(chunks)
            raise err from exc
        except BaseException as exc:
            # A signal handler that raises must not lose the bytes already taken from the stream.
            got = sum(map(len, chunks))
            note_progress(
                exc,
                f"recv_exactly: {got} of {n} bytes had arrived (in .partial)",
                partial=b"".join(chunks),
            )
            raise
        if self._closed:
            raise self._closed_error("recv_exactly")
        if len(data) < n:
            raise self._unexpected_eof("recv_exactly", data, n)
        return data

    def _unexpected_eof(self, op: str, partial: bytes, expected: int) -> UnexpectedEOF:
        """The error for a stream that ended after *partial*, short of *expected* bytes."""
        where = self._where()
        return UnexpectedEOF(
            f"{op} {where}: the peer ended the stream after {len(partial)} of "
            f"{expected} bytes; the partial data is in .partial",
            partial=partial,
            expected=expected,
            op=op,
            address=where,
        )
