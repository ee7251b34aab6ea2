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
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

from transports._closing import CloseOnExit
from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports.addresses import Address, Datagram, InetAddress, UnixAddress
from transports.errors import (
    MessageTooLarge,
    MessageTruncated,
    PeerRejected,
    TransportClosed,
    TransportError,
    UnexpectedEOF,
    translate_os_error,
)
from transports.flags import RecvFlags, SendFlags, refuse_flags
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

#: The pid that calls in flight are tagged with; a forked child gets its own
#: (see _SocketOwner.close: calls of the parent's threads do not exist there).
_PID = os.getpid()
#: Serialises close() against the last blocked call leaving (rare: held only
#: while closing or while a call finds its transport closed).
_CLOSE_LOCK = threading.RLock()


def _after_fork_in_child() -> None:
    # A new pid for new calls, and a fresh lock: a thread of the parent may
    # have held the old one at the fork, and that thread does not exist here.
    global _PID, _CLOSE_LOCK  # noqa: PLW0603 - set once per fork, read by every call: a plain global is cheapest
    _PID = os.getpid()
    _CLOSE_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)

#: A stream receive never asks the kernel for more than this in one call: no
#: receive can return more than a socket buffer holds, and a larger request
#: would only reserve memory (or fail with MemoryError for sizes like 2**40).
_RECV_CAP = 16 << 20
#: recv_exactly and the MSG_WAITALL loop grow their buffer by receiving at
#: most what already arrived (and at least this): memory follows the data.
_GROW_STEP = 256 << 10
#: A datagram buffer up to this size is allocated as asked; above it, the
#: message is peeked at first to learn its real size (one extra call).
_DGRAM_DIRECT = 1 << 16


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


def _check_room(buffer: Buffer, nbytes: int) -> None:
    """Raise a clear error for a ``recv_into`` size the socket module refused."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"recv_into: nbytes must be an int, got {nbytes!r}")
    if nbytes < 0:
        raise ValueError(f"recv_into: nbytes must be >= 0, got {nbytes}")
    with memoryview(buffer) as view:
        room = view.nbytes
        if view.readonly:
            raise TypeError(
                f"recv_into needs a writable buffer (a bytearray, a memoryview of one), got {buffer!r:.60}"
            )
    if nbytes > room:
        raise ValueError(
            f"recv_into: nbytes {nbytes} is larger than the {room}-byte buffer; pass nbytes=0 to use the whole buffer"
        )


def _close_fd(fd: int) -> None:
    """close(2) a descriptor detached from its socket object (-1: already closed)."""
    if fd < 0:
        return
    with contextlib.suppress(ConnectionResetError):  # as socket.close: a reset is no failure to close
        os.close(fd)


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


class _InFlight:
    """The context manager of :meth:`_SocketOwner._in_flight`."""

    __slots__ = ("_op", "_owner")

    def __init__(self, owner: _SocketOwner, op: str) -> None:
        self._owner = owner
        self._op = op

    def __enter__(self) -> None:
        self._owner._enter()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        owner = self._owner
        owner._leave()
        if isinstance(exc, TransportError) and not isinstance(exc, TransportClosed) and owner._closed:
            # Whatever the woken call saw (EOF, EPIPE, a poll's timeout), the cause is close().
            raise owner._closed_error(self._op, bytes_sent=exc.bytes_sent) from exc


class _SocketOwner(CloseOnExit):
    """What transports and listeners share: one owned socket, closed once (APUE 16.2).

    ``close(2)`` alone is not enough when another thread is blocked on the
    socket: on Linux the blocked call keeps waiting (and may return data that
    arrived after the close), and the descriptor number can be reused by the
    next ``open`` while that call still names it. So each blocking call
    records itself in ``_calls`` while it runs, tagged with this process's
    pid. :meth:`close` then works as Go's ``net`` package does:

    * no call of this process in flight: a plain ``close(2)``, which drops only
      this process's reference; a forked parent or child that shares the
      socket keeps its connection (APUE 16.2: close vs shutdown);
    * calls in flight: ``shutdown(SHUT_RDWR)`` wakes them (they end with
      :class:`~transports.errors.TransportClosed`), and the last one to leave
      closes the descriptor.

    A forked child inherits the parent's ``_calls`` list, but none of the
    parent's threads: their entries carry the parent's pid and are ignored.
    """

    __slots__ = ("__weakref__", "_calls", "_closed", "_sock")

    #: Go-style network name used in URLs and messages ("tcp", "unixgram" ...).
    network: ClassVar[str]
    _sock: socket.socket
    #: The pid of every call in flight on this socket (see the class docstring).
    _calls: list[int]
    _closed: bool

    def _own(self, sock: socket.socket) -> None:
        """Take *sock* as this object's socket; nothing in flight, not closed."""
        self._sock = sock
        self._calls = []
        self._closed = False

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
        return -1 if self._closed else self._sock.fileno()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed or self._sock.fileno() == -1

    def close(self) -> None:
        """Close the socket (APUE 16.2 Socket Descriptors). Closing again does nothing.

        A call blocked on this object in another thread wakes promptly with
        :class:`~transports.errors.TransportClosed`, and no data that arrives
        afterwards is handed out. Only this process's reference is dropped:
        after a ``fork``, the other process's copy keeps working.
        """
        with _CLOSE_LOCK:
            if self._closed:
                return
            self._closed = True
            if _PID in self._calls:
                # A thread of ours is blocked on the socket: shutdown wakes it
                # (close(2) would not), and the last call out closes the fd.
                # Under a timeout Python polls, then calls without waiting, and
                # polls again on EAGAIN: a shut-down datagram socket or Unix
                # listener polls readable but has nothing to give, so that loop
                # would spin until the deadline. Timeout 0 makes it give up.
                with contextlib.suppress(OSError):
                    self._sock.settimeout(0)
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
                return
            # Detached under the lock (a call that starts now finds no descriptor),
            # closed outside it: with SO_LINGER, close(2) itself may wait.
            fd = self._sock.detach()
        _close_fd(fd)

    def _enter(self) -> None:
        """A blocking call starts: count it as in flight until :meth:`_leave` (see the class docstring)."""
        self._calls.append(_PID)

    def _in_flight(self, op: str) -> _InFlight:
        """``with self._in_flight(op):`` around a long call (``sendfile``): counted as in flight.

        An error it raises after close() becomes TransportClosed, with the same count.
        """
        return _InFlight(self, op)

    def _leave(self) -> None:
        """A call in flight ends: forget it; the last one out after close() closes the fd."""
        self._calls.pop()
        if self._closed:
            self._settle()

    def _settle(self) -> None:
        """After close(): close the descriptor unless a call of this process is still in flight."""
        with _CLOSE_LOCK:
            if _PID in self._calls:
                return
            fd = self._sock.detach()
        _close_fd(fd)

    def _closed_error(self, op: str, *, bytes_sent: int | None = None) -> TransportClosed:
        """The error for a call that finds (or found, on waking) this object closed."""
        where = self._where()
        local, remote = self._ends()
        return TransportClosed(
            f"{op} {where}: the transport was closed (by close(), perhaps in another thread) "
            "before or while this call waited; nothing that arrived after the close is "
            "handed out; open a new transport",
            errno=errno.EBADF,
            op=op,
            address=where,
            bytes_sent=bytes_sent,
            network=self.network,
            local=local,
            remote=remote,
        )

    def _ends(self) -> tuple[Address | None, Address | None]:
        """This end's and the peer's address for an error, as far as they can still be known."""
        return None, None

    def __del__(self) -> None:
        # A ResourceWarning that names the transport and its URL, not just the inner socket.
        try:
            sock = self._sock
            if self._closed or sock.fileno() == -1:
                return
            try:
                where = f" {self._where()}"
            except Exception:
                where = ""
            warnings.warn(
                f"unclosed {type(self).__name__}{where}: call close(), or open it in a with block",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
            sock.close()
        except Exception:
            return

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
        self._own(sock)
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
        if self._closed and not isinstance(exc, TransportError):
            # Whatever the woken call saw (EOF, EPIPE, EBADF, a poll timeout), the cause is close().
            return self._closed_error(op, bytes_sent=bytes_sent)
        local, remote = self._ends()
        return translate_os_error(
            exc,
            op,
            self._where(),
            bytes_sent=bytes_sent,
            timeout=self._sock.gettimeout(),
            network=self.network,
            local=local,
            remote=remote,
        )

    def _ends(self) -> tuple[Address | None, Address | None]:
        local: Address | None = None
        remote: Address | None = None
        with contextlib.suppress(OSError, ValueError):
            local = self._address(self._sock.getsockname())
        if self._peer is not None:
            with contextlib.suppress(OSError, ValueError):
                remote = self._address(self._peer)
        return local, remote

    # -- data transfer (APUE 16.5) -----------------------------------------------

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send from *data*; return how many bytes the kernel took (APUE 16.5 Data Transfer).

        A successful send means the bytes were handed to the kernel, not that
        the peer has read them. ``MSG_NOSIGNAL`` is always added.
        """
        # One path with or without flags: a flag costs its check (a few int
        # operations) unless DONTWAIT must suspend a timeout (_send_flagged).
        if flags:
            bits = self._send_bits(flags)
            if bits & _DONTWAIT and self._sock.gettimeout():
                return self._send_flagged(data, flags)
        else:
            bits = _NOSIGNAL
        calls = self._calls
        calls.append(_PID)
        try:
            sent = self._sock.send(data, bits)
        except OSError as exc:
            self._leave()
            raise self._send_error(exc, "send", data) from exc
        except BaseException:
            self._leave()
            raise
        del calls[-1]
        if self._closed:
            self._settle()
        return sent

    def _send_flagged(self, data: Buffer, flags: SendFlags) -> int:
        bits = self._send_bits(flags)
        try:
            return self._call(bits, self._sock.send, data, bits)
        except TransportError:
            raise
        except OSError as exc:
            raise self._send_error(exc, "send", data) from exc

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive up to *max_bytes* (APUE 16.5 Data Transfer); ``b""`` means end of stream.

        Memory follows what arrived, not *max_bytes*: one call never asks the
        kernel for more than a socket buffer could hold, so ``recv(2**40)``
        returns what is there. With ``RecvFlags.WAITALL`` the buffer grows as
        the bytes come.
        """
        if flags:
            bits = self._recv_bits(flags)
            if bits & _WAITALL or (bits & _DONTWAIT and self._sock.gettimeout()):
                return self._recv_slow(max_bytes, flags)
        else:
            bits = 0
        if max_bytes.__class__ is not int or max_bytes > _RECV_CAP:
            return self._recv_slow(max_bytes, flags)
        calls = self._calls
        calls.append(_PID)
        try:
            data = self._sock.recv(max_bytes, bits)
        except OSError as exc:
            self._leave()
            raise self._error(exc, "recv") from exc
        except BaseException:
            self._leave()
            check_size("max_bytes", max_bytes)  # a negative size: say it clearly
            raise
        del calls[-1]
        if self._closed:
            # Woken by close() (or racing it): what came back must not be handed out.
            self._settle()
            raise self._closed_error("recv")
        return data

    def _recv_slow(self, max_bytes: int, flags: RecvFlags) -> bytes:
        """``recv`` with flags or an unusual size: checked, capped, WAITALL done in steps."""
        if max_bytes.__class__ is not int:  # a bool is an int to the socket module: refuse it here
            raise TypeError(f"max_bytes must be an int, got {max_bytes!r}")
        check_size("max_bytes", max_bytes)
        bits = self._recv_bits(flags) if flags else 0
        self._calls.append(_PID)
        try:
            if (
                bits & _WAITALL
                and not bits & (_PEEK | _DONTWAIT)
                and (self._sock.gettimeout() or max_bytes > _RECV_CAP)
            ):
                # Under a timeout the kernel ignores MSG_WAITALL, and a huge
                # request must not be reserved up front: loop, growing with the data.
                chunks: list[bytes] = []
                try:
                    self._gather(chunks, 0, max_bytes, bits & ~_WAITALL, time.monotonic())
                except OSError as exc:
                    err = self._error(exc, "recv")
                    err.partial = b"".join(chunks)
                    raise err from exc
                data = b"".join(chunks)
            else:
                data = self._call(bits, self._sock.recv, min(max_bytes, _RECV_CAP), bits)
        except TransportError:
            raise
        except OSError as exc:
            raise self._error(exc, "recv") from exc
        finally:
            self._leave()
        if self._closed:
            raise self._closed_error("recv")
        return data

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive into *buffer*, at most *nbytes* (its whole size when 0); return the count."""
        if flags:
            return self._recv_into_flagged(buffer, nbytes, flags)
        calls = self._calls
        calls.append(_PID)
        try:
            count = self._sock.recv_into(buffer, nbytes)
        except OSError as exc:
            self._leave()
            raise self._error(exc, "recv_into") from exc
        except (TypeError, ValueError, OverflowError):
            self._leave()
            _check_room(buffer, nbytes)  # the socket module's words are terse: say it clearly
            raise
        except BaseException:
            self._leave()
            raise
        del calls[-1]
        if self._closed:
            self._settle()
            raise self._closed_error("recv_into")
        return count

    def _recv_into_flagged(self, buffer: Buffer, nbytes: int, flags: RecvFlags) -> int:
        bits = self._recv_bits(flags)
        self._enter()
        try:
            if self._emulate_waitall(bits):
                limit = check_size("nbytes", nbytes) or None
                with memoryview(buffer) as whole, whole.cast("B") as view:
                    count = self._recv_waitall(view[:limit], bits, "recv_into")
            else:
                count = self._call(bits, self._sock.recv_into, buffer, nbytes, bits)
        except TransportError:
            raise
        except OSError as exc:
            raise self._error(exc, "recv_into") from exc
        finally:
            self._leave()
        if self._closed:
            raise self._closed_error("recv_into")
        return count

    def _room(self, max_bytes: int, flags: RecvFlags, op: str) -> int:
        """How big a buffer a receive of at most *max_bytes* needs: memory follows the data.

        A stream receive never returns more than a socket buffer holds: it is
        capped at ``_RECV_CAP``. For messages:

        up to ``_DGRAM_DIRECT`` (64 KiB, every UDP datagram) the buffer is
        allocated as asked. Above it, Linux is asked for the next message's
        real size first (``MSG_PEEK | MSG_TRUNC``, one extra call), so
        ``recv_from(2**62)`` costs the message, not the request. If another
        thread takes that message in between, a larger one is still reported
        as truncated, never cut silently.
        """
        if self._kind is Kind.STREAM:
            return min(max_bytes, _RECV_CAP)
        if max_bytes <= _DGRAM_DIRECT:
            return max_bytes
        if not _TRUNC_IN:  # pragma: no cover - no way to learn the size first: cap it
            return min(max_bytes, _RECV_CAP)
        bits = (self._recv_bits(flags) if flags else 0) | _PEEK | _TRUNC_IN
        probe = bytearray(1)
        try:
            size = self._call(bits, self._sock.recv_into, probe, 1, bits)
        except OSError as exc:
            raise self._error(exc, op) from exc
        if self._closed:
            raise self._closed_error(op)
        return min(max_bytes, size)

    def _gather(self, chunks: list[bytes], got: int, n: int, flags: int, start: float) -> int:
        """Receive until *chunks* hold *n* bytes or the stream ends; return the total (APUE 14.7).

        *got* bytes are in *chunks* already. Each call asks for at most as much
        as has arrived so far (and at least ``_GROW_STEP``), so memory grows
        with the data, never with *n*. The first call waits with the socket's
        timeout; later ones with what is left of it since *start*.
        """
        sock = self._sock
        deadline = Deadline(sock.gettimeout(), start=start)
        step = _GROW_STEP
        while got < n:
            if chunks:
                deadline.before_next_call(sock, writing=False)
            left = n - got
            chunk = sock.recv(left if left <= step or left <= got else max(got, step), flags)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return got

    def _send_bits(self, flags: SendFlags) -> int:
        """Check send flags for this kind; return them as a plain int with MSG_NOSIGNAL.

        Accepting is a type test and one ``&`` against the mask the flag table
        gave this class (:func:`transports.flags.allowed_masks`); only a refusal
        takes the descriptive path.
        """
        if flags.__class__ is not SendFlags or flags._value_ & ~self._send_allowed:
            refuse_flags(flags, SendFlags, self._send_allowed, self.network)
        return flags._value_ | _NOSIGNAL

    def _recv_bits(self, flags: RecvFlags) -> int:
        """Check receive flags for this kind; return them as a plain int (see :meth:`_send_bits`)."""
        if flags.__class__ is not RecvFlags or flags._value_ & ~self._recv_allowed:
            refuse_flags(flags, RecvFlags, self._recv_allowed, self.network)
        return flags._value_

    def _call(self, flags: int, call: Callable[..., T], *args: Any) -> T:
        """Make one socket call; with MSG_DONTWAIT it never waits, whatever the timeout.

        The call counts as in flight (see :meth:`close`); a receive that wakes
        on a closed transport is the caller's to refuse.
        """
        self._calls.append(_PID)
        try:
            timeout = self._sock.gettimeout() if flags & _DONTWAIT else None
            if not timeout:
                return call(*args)
            # Under a timeout Python polls for readiness (up to the timeout) before
            # the call, so the flag alone would still wait: suspend the timeout.
            self._sock.settimeout(0)
            try:
                return call(*args)
            finally:
                if not self._closed and self._sock.fileno() != -1:
                    self._sock.settimeout(timeout)
        finally:
            self._leave()

    def _emulate_waitall(self, flags: int) -> bool:
        # Under a timeout the socket is non-blocking, and there the kernel
        # ignores MSG_WAITALL; PEEK and DONTWAIT keep the single call.
        return bool(flags & _WAITALL and not flags & (_PEEK | _DONTWAIT) and self._sock.gettimeout())

    def _recv_waitall(self, buffer: Buffer, flags: int, op: str) -> int:
        """MSG_WAITALL under a timeout: loop until the buffer is full or the stream ends (APUE 14.7)."""
        sock = self._sock
        flags &= ~_WAITALL
        deadline = Deadline(sock.gettimeout())
        got = 0
        with memoryview(buffer) as view:
            try:
                while got < len(view):
                    if got:
                        deadline.before_next_call(sock, writing=False)
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
                _note_progress(exc, f"send_all: {sent} of {total} bytes were sent", bytes_sent=sent)
                raise

    def recv_exactly(self, n: int) -> bytes:
        """Return exactly *n* bytes (APUE 14.7 readn and writen).

        Raises :class:`~transports.errors.UnexpectedEOF` carrying the partial
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
            first = self._sock.recv(n if n <= _GROW_STEP else _GROW_STEP)
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
                _note_progress(
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
            _note_progress(
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
        if self._closed:
            raise self._closed_error(op)
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
        buffer = bytearray(self._room(max_bytes, flags, "recv"))
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
        if not flags and type(max_bytes) is int and 0 <= max_bytes <= _DGRAM_DIRECT:
            # The flag-free call is the hot path: one buffer, one system call, one copy.
            buffer = bytearray(max_bytes)
            calls = self._calls
            calls.append(_PID)
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
            finally:
                del calls[-1]
                if self._closed:
                    self._settle()
            if self._closed:
                raise self._closed_error("recv_from")
            cut = count > max_bytes or bool(msg_flags & _TRUNC_OUT)
            if not cut:
                del buffer[count:]
            address = self._address(sender) if sender is not None else UnixAddress("")
            # With MSG_TRUNC on input (Linux) the count is the real size of a cut message.
            size = count if not cut or _TRUNC_IN else None
            return Datagram(bytes(buffer), address, truncated=cut, size=size)
        check_size("max_bytes", max_bytes)
        buffer = bytearray(self._room(max_bytes, flags, "recv_from"))
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
        self._own(sock)
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
        calls = self._calls
        calls.append(_PID)
        try:
            sock, _ = self._sock.accept()
        except OSError as exc:
            if self._closed or self._sock.fileno() == -1 or exc.errno == errno.EINVAL:
                raise self._listener_closed() from exc
            raise translate_os_error(
                exc,
                "accept on",
                self._where(),
                timeout=self.timeout,
                network=self.network,
                local=self._ends()[0],
            ) from exc
        finally:
            del calls[-1]
            if self._closed:
                self._settle()
        if self._closed:
            # A connection that raced close(): the listener hands out nothing more.
            sock.close()
            raise self._listener_closed()
        sock.settimeout(None)
        try:
            return self._wrap(sock)
        except BaseException:
            sock.close()
            raise

    def _listener_closed(self) -> TransportClosed:
        return TransportClosed(
            f"accept on {self._where()}: the listener was closed; make a new one to accept again",
            errno=errno.EBADF,
            op="accept",
            address=self._where(),
            network=self.network,
            local=self._ends()[0],
        )

    def _ends(self) -> tuple[Address | None, Address | None]:
        with contextlib.suppress(OSError, ValueError):
            return self._address(self._sock.getsockname()), None
        return None, None

    def __iter__(self) -> Iterator[TransportT]:
        """Accept connections until the listener is closed (then stop quietly)."""
        while True:
            try:
                yield self.accept()
            except PeerRejected:
                continue  # already disconnected; the next peer may be allowed
            except TransportClosed:
                return


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
