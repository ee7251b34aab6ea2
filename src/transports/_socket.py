"""The shared machinery behind every socket transport (APUE 16.2 Socket Descriptors).

Each concrete transport is a thin owner of one :class:`socket.socket`; what
they have in common lives here once: flag checks, error translation, the
timeout property, addresses, options, the byte-stream loops of APUE 14.7
(``send_all``, ``recv_exactly``) and the truncation-aware message receive of
APUE 16.5. Private: the public names are in the concrete modules.
"""

from __future__ import annotations

import contextlib
import errno
import math
import select
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

from typing_extensions import Buffer

from transports._closing import CloseOnExit
from transports.addresses import Datagram, InetAddress, UnixAddress
from transports.errors import (
    MessageTooLarge,
    MessageTruncated,
    PeerRejected,
    TransportClosed,
    TransportError,
    UnexpectedEOF,
    translate_os_error,
)
from transports.flags import RecvFlags, SendFlags, check_flags
from transports.kinds import Kind
from transports.options import OptionSetting, SocketOption, apply_option, apply_settings, read_option
from transports.protocols import ShutdownHow

T = TypeVar("T")
AddrT = TypeVar("AddrT", bound=InetAddress | UnixAddress)
TransportT = TypeVar("TransportT", bound="SocketTransport[Any]")

_NOSIGNAL = int(getattr(socket, "MSG_NOSIGNAL", 0))
_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))
_WAITALL = int(getattr(socket, "MSG_WAITALL", 0))
_PEEK = int(socket.MSG_PEEK)
_LINUX = sys.platform.startswith("linux")
# On Linux, MSG_TRUNC passed to a datagram receive makes it return the
# message's real size, so a truncation can say how much was lost.
_TRUNC_IN = int(socket.MSG_TRUNC) if _LINUX else 0
_TRUNC_OUT = int(getattr(socket, "MSG_TRUNC", 0))
_SHUT = {"read": socket.SHUT_RD, "write": socket.SHUT_WR, "both": socket.SHUT_RDWR}
#: The longest finite timeout (a year); Python's clocks overflow on much larger ones.
_MAX_TIMEOUT = 365 * 24 * 3600.0


def check_timeout(value: float | None) -> float | None:
    """Validate a timeout: ``None`` or a finite number of seconds >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"timeout must be >= 0 seconds or None, got {value!r}")
    if value > _MAX_TIMEOUT:
        # socket.settimeout would fail with OverflowError, after a socket exists.
        raise ValueError(
            f"timeout must be at most {_MAX_TIMEOUT:g} seconds, got {value!r}; pass None to wait forever"
        )
    return float(value)


def check_size(name: str, value: int) -> int:
    """Validate a byte count argument before any system call."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def prepare_socket(sock: socket.socket) -> None:
    """Make a new socket safe to own: no SIGPIPE where MSG_NOSIGNAL is missing."""
    if not _NOSIGNAL and hasattr(socket, "SO_NOSIGPIPE"):  # pragma: no cover - BSD/macOS
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_NOSIGPIPE, 1)


def _note_progress(exc: BaseException, note: str, **attributes: object) -> None:
    """Attach how far a loop got to an exception that is not ours (one a signal handler raised)."""
    exc.add_note(note)
    for name, value in attributes.items():
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, name, value)


class _Deadline:
    """Spread one timeout over the several system calls of a loop (APUE 14.4 I/O Multiplexing).

    Before each later call it polls for readiness with what is left of the
    timeout, and never changes the socket's own timeout: another thread
    using the same socket in the other direction keeps the timeout it set.
    """

    __slots__ = ("_at", "_events", "_sock")

    def __init__(self, sock: socket.socket, start: float | None = None, *, writing: bool) -> None:
        self._sock = sock
        self._events = select.POLLOUT if writing else select.POLLIN
        timeout = sock.gettimeout()
        # A timeout of 0 (non-blocking) needs no deadline: each call fails fast.
        if not timeout:
            self._at = None
        else:
            self._at = (time.monotonic() if start is None else start) + timeout

    def next_call(self) -> None:
        """Before another call: wait for readiness within what is left, or time out."""
        if self._at is None:
            return
        left = self._at - time.monotonic()
        if left > 0:
            poller = select.poll()
            poller.register(self._sock, self._events)
            if poller.poll(max(left * 1000.0, 1.0)):
                return
        raise TimeoutError("timed out")


class _SocketOwner(CloseOnExit):
    """What transports and listeners share: one owned socket, closed once (APUE 16.2)."""

    __slots__ = ("__weakref__", "_sock")

    #: Go-style network name used in URLs and messages ("tcp", "unixgram" ...).
    network: ClassVar[str]
    _sock: socket.socket

    def _where(self) -> str:
        """A URL naming this socket for error messages."""
        raise NotImplementedError

    @property
    def raw_socket(self) -> socket.socket:
        """The owned :class:`socket.socket`, for calls this class does not wrap.

        Do not close it or change its blocking mode behind the owner's back.
        """
        return self._sock

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed): usable with ``os.read``/``select``."""
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._sock.fileno() == -1

    def close(self) -> None:
        """Close the socket. Closing again does nothing."""
        self._sock.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<{type(self).__name__} closed>"
        return f"<{type(self).__name__} {self._describe()}>"

    def _describe(self) -> str:
        return self._where()

    @property
    def timeout(self) -> float | None:
        """Seconds a blocking call may wait (APUE 16.8): None forever, 0 never (non-blocking).

        ``send_all`` and ``recv_exactly`` spread it over their whole loop;
        for a listener it bounds :meth:`accept`.
        """
        return self._sock.gettimeout()

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        value = check_timeout(value)
        try:
            self._sock.settimeout(value)
        except OSError as exc:
            raise translate_os_error(exc, "set timeout on", self._where()) from exc

    def get_option(self, option: SocketOption[T]) -> T:
        """Read a socket option as its typed value (APUE 16.6 Socket Options)."""
        return read_option(self._sock, option, self._where())

    def set_option(self, option: SocketOption[T], value: T) -> None:
        """Set a socket option (APUE 16.6 Socket Options); the value's type is checked."""
        apply_option(self._sock, option, value, self._where())


class SocketTransport(_SocketOwner, Generic[AddrT]):
    """Base of the concrete transports: owns one socket and closes it once."""

    __slots__ = ("_peer",)

    _kind: ClassVar[Kind]
    _families: ClassVar[tuple[int, ...]]
    _send_allowed: ClassVar[int]
    _recv_allowed: ClassVar[int]

    def __init__(self, sock: socket.socket) -> None:
        """Take ownership of *sock*, which must match the class's family and kind."""
        if not isinstance(sock, socket.socket):
            raise TypeError(f"{type(self).__name__} needs a socket.socket, got {sock!r}")
        if sock.family not in self._families or sock.type != self._kind.socket_type:
            raise ValueError(
                f"{type(self).__name__} needs a {self._kind.value} socket of family "
                f"{'/'.join(socket.AddressFamily(f).name for f in self._families)}, "
                f"got {sock.family.name}/{sock.type.name}"
            )
        prepare_socket(sock)
        self._sock = sock
        # Kept so that an error after the peer is gone (a reset, a close) can
        # still name it: getpeername fails once the connection is torn down.
        try:
            self._peer: Any = sock.getpeername()
        except OSError:
            self._peer = None

    # -- identity -------------------------------------------------------------

    @property
    def kind(self) -> Kind:
        """Stream, datagram or seqpacket (APUE 16.2 Socket Descriptors)."""
        return self._kind

    def _describe(self) -> str:
        try:
            local = self.local_address.url(self.network)
        except OSError:
            local = f"{self.network}:?"
        remote = self.remote_address
        return f"{local} -> {remote}" if remote is not None else local

    # -- addresses ------------------------------------------------------------

    def _address(self, raw: Any) -> AddrT:
        """Decode what getsockname/getpeername/recvfrom return."""
        raise NotImplementedError

    @property
    def local_address(self) -> AddrT:
        """The address this end is bound to (``getsockname``, APUE 16.3.4)."""
        try:
            return self._address(self._sock.getsockname())
        except OSError as exc:
            raise self._error(exc, "getsockname") from exc

    @property
    def remote_address(self) -> AddrT | None:
        """The peer's address (``getpeername``, APUE 16.3.4), or None when not connected."""
        try:
            return self._address(self._sock.getpeername())
        except OSError as exc:
            if exc.errno == errno.ENOTCONN:
                return None
            raise self._error(exc, "getpeername") from exc

    def _where(self) -> str:
        """A URL naming this transport for error messages: the peer if any, else this end."""
        sock = self._sock
        candidates: list[Callable[[], Any]] = []
        if self._peer is not None:
            candidates.append(lambda: self._peer)
        if sock.fileno() != -1:
            candidates += [sock.getpeername, sock.getsockname]
        for getter in candidates:
            try:
                address = self._address(getter())
            except (OSError, ValueError):
                continue
            if not (isinstance(address, UnixAddress) and address.unnamed):
                return address.url(self.network)
        return f"{self.network}:(closed)" if sock.fileno() == -1 else f"{self.network}:(unnamed)"

    # -- errors -----------------------------------------------------------------

    def _error(self, exc: OSError, op: str, *, bytes_sent: int | None = None) -> TransportError:
        return translate_os_error(
            exc, op, self._where(), bytes_sent=bytes_sent, timeout=self._sock.gettimeout()
        )

    # -- data transfer (APUE 16.5) -----------------------------------------------

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send from *data*; return how many bytes the kernel took (APUE 16.5 Data Transfer).

        A successful send means the bytes were handed to the kernel, not that
        the peer has read them. ``MSG_NOSIGNAL`` is always added.
        """
        # The flag-free call is the hot path: no enum arithmetic, no extra call.
        try:
            if not flags:
                return self._sock.send(data, _NOSIGNAL)
            bits = self._send_bits(flags)
            return self._call(bits, self._sock.send, data, bits)
        except TransportError:
            raise
        except OSError as exc:
            raise self._send_error(exc, "send", data) from exc

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive up to *max_bytes* (APUE 16.5 Data Transfer); ``b""`` means end of stream."""
        if max_bytes.__class__ is bool:  # an int to the socket module: refuse it here
            raise TypeError(f"max_bytes must be an int, got {max_bytes!r}")
        try:
            if not flags:
                return self._sock.recv(max_bytes)
            bits = self._recv_bits(flags)
            if self._emulate_waitall(bits):
                buffer = bytearray(check_size("max_bytes", max_bytes))
                count = self._recv_waitall(buffer, bits, "recv")
                del buffer[count:]
                return bytes(buffer)
            return self._call(bits, self._sock.recv, max_bytes, bits)
        except TransportError:
            raise
        except OSError as exc:
            raise self._error(exc, "recv") from exc

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive into *buffer*, at most *nbytes* (its whole size when 0); return the count."""
        try:
            if not flags:
                return self._sock.recv_into(buffer, nbytes)
            bits = self._recv_bits(flags)
            if self._emulate_waitall(bits):
                limit = check_size("nbytes", nbytes) or None
                with memoryview(buffer) as whole, whole.cast("B") as view:
                    return self._recv_waitall(view[:limit], bits, "recv_into")
            return self._call(bits, self._sock.recv_into, buffer, nbytes, bits)
        except TransportError:
            raise
        except OSError as exc:
            raise self._error(exc, "recv_into") from exc

    def _send_bits(self, flags: SendFlags) -> int:
        """Check send flags for this kind; return them as a plain int with MSG_NOSIGNAL."""
        check_flags(flags, SendFlags, self._send_allowed, self.network)
        return int(flags) | _NOSIGNAL

    def _recv_bits(self, flags: RecvFlags) -> int:
        """Check receive flags for this kind; return them as a plain int."""
        check_flags(flags, RecvFlags, self._recv_allowed, self.network)
        return int(flags)

    def _call(self, flags: int, call: Callable[..., T], *args: Any) -> T:
        """Make one socket call; with MSG_DONTWAIT it never waits, whatever the timeout."""
        timeout = self._sock.gettimeout() if flags & _DONTWAIT else None
        if not timeout:
            return call(*args)
        # Under a timeout Python polls for readiness (up to the timeout) before
        # the call, so the flag alone would still wait: suspend the timeout.
        self._sock.settimeout(0)
        try:
            return call(*args)
        finally:
            if self._sock.fileno() != -1:
                self._sock.settimeout(timeout)

    def _emulate_waitall(self, flags: int) -> bool:
        # Under a timeout the socket is non-blocking, and there the kernel
        # ignores MSG_WAITALL; PEEK and DONTWAIT keep the single call.
        return bool(flags & _WAITALL and not flags & (_PEEK | _DONTWAIT) and self._sock.gettimeout())

    def _recv_waitall(self, buffer: Buffer, flags: int, op: str) -> int:
        """MSG_WAITALL under a timeout: loop until the buffer is full or the stream ends (APUE 14.7)."""
        sock = self._sock
        flags &= ~_WAITALL
        deadline = _Deadline(sock, writing=False)
        got = 0
        with memoryview(buffer) as view:
            try:
                while got < len(view):
                    if got:
                        deadline.next_call()
                    count = sock.recv_into(view[got:], 0, flags)
                    if not count:
                        break
                    got += count
            except OSError as exc:
                err = self._error(exc, op)
                err.partial = bytes(view[:got])
                raise err from exc
        return got

    def _send_error(self, exc: OSError, op: str, data: Buffer) -> TransportError:
        return self._error(exc, op, bytes_sent=0)


class ShutdownMixin(SocketTransport[AddrT]):
    """Half-close for connection-oriented kinds (stream and seqpacket, APUE 16.2)."""

    __slots__ = ()

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """Close one direction of the connection (APUE 16.2 Socket Descriptors).

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
    """``send_all``, ``recv_exactly`` and ``shutdown`` for byte streams (APUE 14.7, 16.2)."""

    __slots__ = ()

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Return only once all of *data* was handed to the kernel (APUE 14.7 readn and writen).

        The timeout covers the whole call. On a timeout or an error, the
        exception's ``bytes_sent`` tells how many bytes the kernel took.
        """
        bits = self._send_bits(flags) if flags else _NOSIGNAL
        sock = self._sock
        start = time.monotonic()
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
        with memoryview(data) as whole, whole.cast("B") as view:
            total = len(view)
            if sent == total:
                return
            deadline = _Deadline(sock, start, writing=True)
            try:
                while sent < total:
                    deadline.next_call()
                    sent += self._call(bits, sock.send, view[sent:], bits)
            except OSError as exc:
                raise self._error(exc, "send_all", bytes_sent=sent) from exc
            except BaseException as exc:
                # A signal handler that raises (KeyboardInterrupt ...) must not lose the count.
                _note_progress(exc, f"send_all: {sent} of {total} bytes were sent", bytes_sent=sent)
                raise

    def recv_exactly(self, n: int) -> bytes:
        """Return exactly *n* bytes (APUE 14.7 readn and writen).

        Raises :class:`~transports.errors.UnexpectedEOF` carrying the partial
        data if the peer ends the stream first. The timeout covers the whole call.
        """
        if type(n) is not int or n < 0:
            check_size("n", n)
        sock = self._sock
        start = time.monotonic()
        buffer: bytes | bytearray = b""
        got = 0
        try:
            first = sock.recv(n)
            if len(first) == n:
                return first
            deadline = _Deadline(sock, start, writing=False)
            buffer = bytearray(n)
            got = len(first)
            buffer[:got] = first
            with memoryview(buffer) as view:
                while first and got < n:
                    deadline.next_call()
                    count = sock.recv_into(view[got:], n - got)
                    if not count:
                        break
                    got += count
        except OSError as exc:
            err = self._error(exc, "recv_exactly")
            err.partial = bytes(buffer[:got])
            raise err from exc
        except BaseException as exc:
            # A signal handler that raises must not lose the bytes already taken from the stream.
            _note_progress(
                exc,
                f"recv_exactly: {got} of {n} bytes had arrived (in .partial)",
                partial=bytes(buffer[:got]),
            )
            raise
        if got < n:
            raise self._unexpected_eof("recv_exactly", bytes(buffer[:got]), n)
        return bytes(buffer)

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


class MessageMixin(SocketTransport[AddrT]):
    """Receives that never cut a message silently (datagram and seqpacket, APUE 16.5)."""

    __slots__ = ()

    @property
    def max_message_size(self) -> int:
        """The largest payload one send can carry on this transport."""
        raise NotImplementedError

    def _send_error(self, exc: OSError, op: str, data: Buffer) -> TransportError:
        if exc.errno == errno.EMSGSIZE or (exc.errno == errno.ENOBUFS and self.network.startswith("unix")):
            with memoryview(data) as view:
                size = view.nbytes
            try:
                limit: int | None = self.max_message_size
            except OSError:
                limit = None
            return MessageTooLarge(
                f"{op} {self._where()}: a {size}-byte message is larger than this "
                f"{self.network} transport can send in one piece (limit {limit} bytes); "
                "nothing was sent; split the data or use a stream transport",
                size=size,
                limit=limit,
                op=op,
                address=self._where(),
            )
        return self._error(exc, op, bytes_sent=0)

    def _recv_message(
        self, buffer: Buffer, nbytes: int, flags: RecvFlags, op: str
    ) -> tuple[int, bool, int | None, Any]:
        """Receive one message into *buffer*.

        Returns (bytes stored, whether it was cut, its real size if known, sender).
        """
        bits = self._recv_bits(flags) if flags else 0
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if nbytes > len(view):
                raise ValueError(
                    f"{op}: nbytes {nbytes} is larger than the {len(view)}-byte buffer; "
                    "pass nbytes=0 to use the whole buffer"
                )
            target = view[:nbytes] if nbytes else view
            room = len(target)
            try:
                count, _, msg_flags, sender = self._call(
                    bits, self._sock.recvmsg_into, [target], 0, bits | _TRUNC_IN
                )
            except OSError as exc:
                raise self._error(exc, op) from exc
        if count > room or msg_flags & _TRUNC_OUT:
            # With MSG_TRUNC on input (Linux) the count is the real size.
            return min(count, room), True, (count if _TRUNC_IN else None), sender
        return count, False, count, sender

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive one message of at most *max_bytes* (APUE 16.5 Data Transfer).

        A longer message raises :class:`~transports.errors.MessageTruncated`
        with the part that fitted; use ``recv_from`` to get it as a result.
        """
        check_size("max_bytes", max_bytes)
        buffer = bytearray(max_bytes)
        count, cut, size, _ = self._recv_message(buffer, 0, flags, "recv")
        with memoryview(buffer) as view:
            data = bytes(view[:count])
        if cut:
            raise self._truncated("recv", data, size, max_bytes)
        return data

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive one message into *buffer*; a message that does not fit raises MessageTruncated."""
        check_size("nbytes", nbytes)
        count, cut, size, _ = self._recv_message(buffer, nbytes, flags, "recv_into")
        if cut:
            with memoryview(buffer) as view, view.cast("B") as raw:
                data = bytes(raw[:count])
            raise self._truncated("recv_into", data, size, count)
        return count

    def _recv_datagram(self, max_bytes: int, flags: RecvFlags) -> Datagram:
        if not flags and type(max_bytes) is int and max_bytes >= 0:
            # The flag-free call is the hot path: one buffer, one system call, one copy.
            buffer = bytearray(max_bytes)
            try:
                if _TRUNC_IN:
                    # Linux: with MSG_TRUNC the count is the message's real size, so a count
                    # beyond the buffer is the truncation report; recvfrom_into is cheaper than recvmsg_into.
                    count, sender = self._sock.recvfrom_into(buffer, 0, _TRUNC_IN)
                    msg_flags = 0
                else:
                    count, _, msg_flags, sender = self._sock.recvmsg_into([buffer], 0)
            except OSError as exc:
                raise self._error(exc, "recv_from") from exc
            cut = count > max_bytes or bool(msg_flags & _TRUNC_OUT)
            if not cut:
                del buffer[count:]
            address = self._address(sender) if sender is not None else UnixAddress("")
            # With MSG_TRUNC on input (Linux) the count is the real size of a cut message.
            size = count if not cut or _TRUNC_IN else None
            return Datagram(bytes(buffer), address, truncated=cut, size=size)
        check_size("max_bytes", max_bytes)
        buffer = bytearray(max_bytes)
        count, cut, size, sender = self._recv_message(buffer, 0, flags, "recv_from")
        with memoryview(buffer) as view:
            data = bytes(view[:count])
        address = self._address(sender) if sender is not None else UnixAddress("")
        return Datagram(data, address, truncated=cut, size=size)

    def _truncated(self, op: str, data: bytes, size: int | None, room: int) -> MessageTruncated:
        real = f"{size}-byte" if size is not None else "longer"
        return MessageTruncated(
            f"{op} {self._where()}: a {real} message did not fit the {room}-byte buffer; "
            "the first part is in .data and the rest was discarded by the kernel; "
            "receive with a larger buffer (see max_message_size)",
            data=data,
            size=size,
            op=op,
            address=self._where(),
        )


class SocketListener(_SocketOwner, Generic[TransportT, AddrT]):
    """Base of the listeners: a passive socket that hands out transports (APUE 16.4)."""

    __slots__ = ("_wrap",)

    def __init__(self, sock: socket.socket, wrap: Callable[[socket.socket], TransportT]) -> None:
        prepare_socket(sock)
        self._sock = sock
        self._wrap = wrap

    def _address(self, raw: Any) -> AddrT:
        """Decode what getsockname returns."""
        raise NotImplementedError

    @property
    def address(self) -> AddrT:
        """Where connections arrive (port 0 resolved to the real port)."""
        try:
            return self._address(self._sock.getsockname())
        except OSError as exc:
            raise translate_os_error(exc, "getsockname", f"{self.network}:(listener)") from exc

    def _where(self) -> str:
        if self._sock.fileno() == -1:
            return f"{self.network}:(closed listener)"
        return self.address.url(self.network)

    def accept(self) -> TransportT:
        """Wait for the next connection (APUE 16.4 Connection Establishment).

        The new transport is blocking (timeout None) whatever the listener's timeout.
        """
        try:
            sock, _ = self._sock.accept()
        except OSError as exc:
            if self.closed or exc.errno == errno.EINVAL:
                raise TransportClosed(
                    f"accept on {self._where()}: the listener was closed; make a new one to accept again",
                    op="accept",
                    address=self._where(),
                ) from exc
            raise translate_os_error(exc, "accept on", self._where(), timeout=self.timeout) from exc
        sock.settimeout(None)
        try:
            return self._wrap(sock)
        except BaseException:
            sock.close()
            raise

    def __iter__(self) -> Iterator[TransportT]:
        """Accept connections until the listener is closed (then stop quietly)."""
        while True:
            try:
                yield self.accept()
            except PeerRejected:
                continue  # already disconnected; the next peer may be allowed
            except TransportClosed:
                return

    def close(self) -> None:
        """Stop listening; a thread blocked in :meth:`accept` wakes with TransportClosed."""
        if self._sock.fileno() == -1:
            return
        # On Linux close() alone does not wake a thread blocked in accept();
        # shutdown() does (it fails harmlessly where unsupported).
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def new_socket(
    family: int,
    kind: Kind,
    settings: Iterable[OptionSetting[Any]],
    where: str,
    timeout: float | None,
) -> socket.socket:
    """Create a socket, apply settings and timeout; close it if any step fails."""
    try:
        sock = socket.socket(family, kind.socket_type)
    except OSError as exc:
        raise translate_os_error(exc, "socket for", where) from exc
    try:
        prepare_socket(sock)
        apply_settings(sock, settings, where)
        sock.settimeout(timeout)
    except BaseException:
        sock.close()
        raise
    return sock
