"""The send/receive machinery of one connected or bound socket (:apue:`16.5`).

:class:`SocketTransport` is the base of every concrete transport: identity,
addresses, error translation, and the ``send``/``recv``/``recv_into`` hot
paths (measured by ``benchmarks/hotpath.py``: keep them lean). Byte-stream
loops are in :mod:`transports._core.stream`, message receives in
:mod:`transports._core.message`.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import select
import socket
import time
from collections.abc import Callable
from typing import Any, ClassVar, Generic, Self, TypeVar

from transports._compat import Buffer, WritableBuffer
from transports._core.deadline import Deadline
from transports._core.networks import NETWORKS
from transports._core.owner import SocketOwner, pid_global, prepare_socket
from transports._core.sockflags import DONTWAIT, NOSIGNAL, PEEK, TRUNC_IN, WAITALL
from transports._core.validate import check_room, check_size
from transports.addresses import Address, InetAddress, UnixAddress
from transports.errors import TransportError, translate_os_error
from transports.flags import RecvFlags, SendFlags, allowed_masks, refuse_flags
from transports.kinds import Kind

#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())
#: A socket's family and type as the plain ints _socket keeps (no enum built).
_family_of: Callable[[socket.socket], int] = vars(_socket.socket)["family"].__get__
_type_of: Callable[[socket.socket], int] = vars(_socket.socket)["type"].__get__

T = TypeVar("T")
AddrT = TypeVar("AddrT", bound=InetAddress | UnixAddress)

#: A stream receive never asks the kernel for more than this in one call: no
#: receive can return more than a socket buffer holds, and a larger request
#: would only reserve memory (or fail with MemoryError for sizes like 2**40).
RECV_CAP = 16 << 20
#: recv_exactly and the MSG_WAITALL loop grow their buffer by receiving at
#: most what already arrived (and at least this): memory follows the data.
GROW_STEP = 256 << 10
#: A datagram buffer up to this size is allocated as asked; above it, the
#: message is peeked at first to learn its real size (one extra call).
DGRAM_DIRECT = 1 << 16


class SocketTransport(SocketOwner, Generic[AddrT]):
    """Base of the concrete transports: owns one socket and closes it once."""

    __slots__ = ("_peer",)

    _kind: ClassVar[Kind]
    _families: ClassVar[tuple[int, ...]]
    _send_allowed: ClassVar[int]
    _recv_allowed: ClassVar[int]
    #: Whether the kind is an Internet one (its addresses are InetAddress), else Unix.
    _inet: ClassVar[bool] = False
    #: The families and the ``SOCK_*`` type as plain ints, for the constructor's check.
    _family_ints: ClassVar[frozenset[int]]
    _socket_type: ClassVar[int]

    def __init_subclass__(cls, network: str = "", **kwargs: Any) -> None:
        """A concrete kind names its network; the row of :data:`NETWORKS` fills in the rest."""
        super().__init_subclass__(**kwargs)
        if not network:
            return  # an intermediate base (a capability) names none
        row = NETWORKS[network]
        cls.network = network
        cls._kind = row.kind
        cls._families = row.families
        cls._inet = socket.AF_INET in row.families
        cls._family_ints = frozenset(int(family) for family in row.families)
        cls._socket_type = row.kind.socket_type
        cls._address = staticmethod(row.address)  # type: ignore[method-assign,assignment]  # a plain function: no frame of ours per message
        cls._send_allowed, cls._recv_allowed = allowed_masks(network)

    def __init__(self, sock: socket.socket) -> None:
        """Take ownership of *sock*, which must match the class's family and kind."""
        if not isinstance(sock, socket.socket):
            raise TypeError(f"{type(self).__name__} needs a socket.socket, got {sock!r}")
        # The socket's own ints (the properties of socket.socket build enums, per call).
        if _family_of(sock) not in self._family_ints or _type_of(sock) != self._socket_type:
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

    @classmethod
    def _connected(cls, sock: socket.socket, peer: Any) -> Self:
        """Wrap *sock*, which this library just made (prepared) and connected to *peer*.

        The checks of ``__init__`` are for sockets from outside; this one is of
        the class's family and kind by construction, and its peer is known.
        A class whose ``__init__`` does more gets the full constructor.
        """
        if cls.__init__ is not SocketTransport.__init__:
            return cls(sock)
        self = cls.__new__(cls)
        self._own(sock)
        self._peer = peer
        return self

    # -- identity -------------------------------------------------------------

    @property
    def kind(self) -> Kind:
        """Stream, datagram or seqpacket."""
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
        """Decode what getsockname/getpeername/recvfrom return.

        A kind gets the memoised decoder of its family from its network's
        row (:meth:`__init_subclass__`): the receive path calls it for every
        message, and a plain function costs no frame of ours.
        """
        raise NotImplementedError

    @property
    def local_address(self) -> AddrT:
        """The address this end is bound to (``getsockname``)."""
        try:
            return self._address(self._sock.getsockname())
        except OSError as exc:
            raise self._error(exc, "getsockname") from exc

    @property
    def remote_address(self) -> AddrT | None:
        """The peer's address (``getpeername``), or None when not connected."""
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
        """Send from *data*; return how many bytes the kernel took (:apue:`16.5`).

        A successful send means the bytes were handed to the kernel, not that
        the peer has read them. ``MSG_NOSIGNAL`` is always added.
        """
        # One path with or without flags: a flag costs its check (a few int
        # operations) unless DONTWAIT must suspend a timeout (_send_flagged).
        if flags:
            bits = self._send_bits(flags)
            if bits & DONTWAIT and self._sock.gettimeout():
                return self._send_flagged(data, flags)
        else:
            bits = NOSIGNAL
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
        """Receive up to *max_bytes* (:apue:`16.5`); ``b""`` means end of stream.

        Memory follows what arrived, not *max_bytes*: one call never asks the
        kernel for more than a socket buffer could hold, so ``recv(2**40)``
        returns what is there. With ``RecvFlags.WAITALL`` the buffer grows as
        the bytes come.
        """
        if flags:
            bits = self._recv_bits(flags)
            if bits & WAITALL or (bits & DONTWAIT and self._sock.gettimeout()):
                return self._recv_slow(max_bytes, flags)
        else:
            bits = 0
        if max_bytes.__class__ is not int or max_bytes > RECV_CAP:
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
        if (
            bits & WAITALL
            and not bits & (PEEK | DONTWAIT)
            and (self._sock.gettimeout() or max_bytes > RECV_CAP)
        ):
            # Under a timeout the kernel ignores MSG_WAITALL, and a huge
            # request must not be reserved up front: loop, growing with the data.
            return self._recv_growing(max_bytes, bits & ~WAITALL)
        return self._receive("recv", bits, self._sock.recv, min(max_bytes, RECV_CAP), bits)

    def _recv_growing(self, max_bytes: int, bits: int) -> bytes:
        """``recv(max_bytes, WAITALL)`` as a loop whose buffer grows with the data (:apue:`14.7`)."""
        chunks: list[bytes] = []
        self._enter()
        try:
            self._gather(chunks, 0, max_bytes, bits, time.monotonic())
        except OSError as exc:
            err = self._error(exc, "recv")
            err.partial = b"".join(chunks)
            raise err from exc
        finally:
            self._leave()
        if self._closed:
            raise self._closed_error("recv")
        return b"".join(chunks)

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
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
            check_room(buffer, nbytes)  # the socket module's words are terse: say it clearly
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
        if self._emulate_waitall(bits):
            limit = check_size("nbytes", nbytes) or None
            with memoryview(buffer) as whole, whole.cast("B") as view:
                return self._recv_waitall(view[:limit], bits, "recv_into")
        return self._receive("recv_into", bits, self._sock.recv_into, buffer, nbytes, bits)

    def _room(self, max_bytes: int, flags: RecvFlags, op: str) -> int:
        """How big a buffer a receive of at most *max_bytes* needs: memory follows the data.

        A stream receive never returns more than a socket buffer holds: it is
        capped at ``RECV_CAP``. For messages:

        up to ``DGRAM_DIRECT`` (64 KiB, every UDP datagram) the buffer is
        allocated as asked. Above it, Linux is asked for the next message's
        real size first (``MSG_PEEK | MSG_TRUNC``, one extra call), so
        ``recv_from(2**62)`` costs the message, not the request. If another
        thread takes that message in between, a larger one is still reported
        as truncated, never cut silently.
        """
        if self._kind is Kind.STREAM:
            return min(max_bytes, RECV_CAP)
        if max_bytes <= DGRAM_DIRECT:
            return max_bytes
        if not TRUNC_IN:  # pragma: no cover - no way to learn the size first: cap it
            return min(max_bytes, RECV_CAP)
        bits = (self._recv_bits(flags) if flags else 0) | PEEK | TRUNC_IN
        size = self._receive(op, bits, self._sock.recv_into, bytearray(1), 1, bits)
        return min(max_bytes, size)

    def _gather(self, chunks: list[bytes], got: int, n: int, flags: int, start: float) -> int:
        """Receive until *chunks* hold *n* bytes or the stream ends; return the total (:apue:`14.7`).

        *got* bytes are in *chunks* already. Each call asks for at most as much
        as has arrived so far (and at least ``GROW_STEP``), so memory grows
        with the data, never with *n*. The first call waits with the socket's
        timeout; later ones with what is left of it since *start*.
        """
        sock = self._sock
        deadline = Deadline(sock.gettimeout(), start=start)
        step = GROW_STEP
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
        return flags._value_ | NOSIGNAL

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
            timeout = self._sock.gettimeout() if flags & DONTWAIT else None
            if not timeout:
                return call(*args)
            # Under a timeout Python polls for readiness (up to the timeout)
            # before the call, so the flag alone would still wait.
            if not call.__name__.startswith("send") and self._sock.fileno() >= 0:
                # A receive: ask the kernel first, without waiting, and leave the
                # socket's timeout (another thread may be using it) alone.
                # (Another thread that takes the data in between makes this one
                # wait after all.)
                poller = select.poll()
                poller.register(self._sock, select.POLLIN)
                if not poller.poll(0):
                    raise BlockingIOError(errno.EAGAIN, "nothing to receive without waiting (MSG_DONTWAIT)")
                return call(*args)
            # A send: POLLOUT is reported only once a third of the buffer is
            # free, though the kernel would take part of the data sooner, so
            # the timeout is suspended for the one call instead.
            self._sock.settimeout(0)
            try:
                return call(*args)
            finally:
                if not self._closed and self._sock.fileno() != -1:
                    self._sock.settimeout(timeout)
        finally:
            self._leave()

    def _receive(self, op: str, flags: int, call: Callable[..., T], *args: Any) -> T:
        """A receive off the hot path: :meth:`_call`, its error translated for *op*, refused after close().

        What a receive that close() woke (or raced) got is never handed out:
        it ends with :class:`~transports.TransportClosed`.
        """
        try:
            result = self._call(flags, call, *args)
        except TransportError:
            raise
        except OSError as exc:
            raise self._error(exc, op) from exc
        if self._closed:
            raise self._closed_error(op)
        return result

    def _emulate_waitall(self, flags: int) -> bool:
        # Under a timeout the socket is non-blocking, and there the kernel
        # ignores MSG_WAITALL; PEEK and DONTWAIT keep the single call.
        return bool(flags & WAITALL and not flags & (PEEK | DONTWAIT) and self._sock.gettimeout())

    def _recv_waitall(self, buffer: Buffer, flags: int, op: str) -> int:
        """MSG_WAITALL under a timeout: loop until the buffer is full or the stream ends (:apue:`14.7`)."""
        sock = self._sock
        flags &= ~WAITALL
        deadline = Deadline(sock.gettimeout())
        got = 0
        self._enter()
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
            finally:
                self._leave()
        if self._closed:
            raise self._closed_error(op)
        return got

    def _send_error(self, exc: OSError, op: str, data: Buffer) -> TransportError:
        return self._error(exc, op, bytes_sent=0)
