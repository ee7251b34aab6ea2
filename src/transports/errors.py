"""One error hierarchy for every transport (:apue:`16.5`, :apue:`16.4`).

Every error of a connection is a :class:`TransportError`, which is an
:class:`OSError`: ``except OSError`` and the built-in subclasses
(``ConnectionResetError``, ``BrokenPipeError``, ``TimeoutError``,
``BlockingIOError`` ...) keep catching what they caught with raw sockets. Each
error says which operation failed, on which address, why, and what to try.
Mistakes in what you asked for (a bad URL, a flag the kind cannot honour, an
option the socket does not have) are :class:`ValueError` subclasses raised
before any socket exists or any system call runs, and never :class:`OSError`:
an ``except OSError`` retry loop does not swallow them. A failure of the *file* in ``recv_into_file`` (a full disk) is a
:class:`FileWriteError`: an :class:`OSError`, but not a transport error.

This module is the floor of the value types (it imports only
``transports.credentials``), so that addresses, flags and options can raise
these errors; the address fields are typed by their shape for that reason.
"""

from __future__ import annotations

import enum
import errno as _errno
from collections.abc import Sequence
from typing import Unpack

from transports._errfields import AddressLike, Where
from transports._errtext import PHRASES, WRITE_HINTS, os_error_text, reason
from transports.credentials import Credentials

__all__ = [
    "OPS",
    "AddressError",
    "AddressInUse",
    "BrokenPipe",
    "ConnectionAborted",
    "ConnectionRefused",
    "ConnectionReset",
    "FdsTruncated",
    "FileWriteError",
    "FrameError",
    "FrameTooLarge",
    "MessageTooLarge",
    "MessageTruncated",
    "NotConnected",
    "PeerRejected",
    "PluginError",
    "TransportClosed",
    "TransportError",
    "TransportTimeout",
    "UnexpectedEOF",
    "UnknownScheme",
    "UnsupportedFlag",
    "UnsupportedOption",
    "WouldBlock",
    "ZeroCopyUnavailable",
    "op_verb",
    "translate_os_error",
]


#: The operations an error can name in ``op``: one verb per operation, as Go's
#: ``OpError.Op`` ("dial", "read" ...) -- the method's name where a method failed.
OPS: frozenset[str] = frozenset(
    {
        # making and naming sockets (APUE 16.2-16.4)
        "socket", "socketpair", "bind", "listen", "connect", "accept", "resolve",
        "getsockname", "getpeername", "getsockopt", "setsockopt", "settimeout",
        "shutdown", "close", "peer_credentials",
        # moving data (APUE 16.5, 14.7, 17.4)
        "send", "send_all", "send_to", "send_fds", "sendfile",
        "recv", "recv_into", "recv_exactly", "recv_from", "recv_fds", "recv_into_file",
        "send_message", "recv_message", "recv_msg", "send_from",
        "send_many", "recv_many", "send_segments",
    }
)  # fmt: skip


def op_verb(op: str) -> str:
    """The verb of :data:`~transports.errors.OPS` that a message's phrase names (``"connect to"`` -> ``"connect"``).

    Options name themselves in their phrase (``"set SO_RCVBUF on"``): those
    are ``setsockopt`` and ``getsockopt``. An unknown phrase is returned as it is.
    """
    if op in OPS:
        return op
    verb = PHRASES.get(op)
    if verb is not None:
        return verb
    if op.startswith("set ") and op.endswith(" on"):
        return "setsockopt"
    if op.startswith("get ") and op.endswith(" of"):
        return "getsockopt"
    return op


def _reduce_with_fields(self: BaseException) -> tuple[object, ...]:
    # OSError pickles through args only, and so does ValueError: keep the keyword fields too.
    state = dict(vars(self))
    if isinstance(self, OSError) and self.filename is not None:
        state["filename"] = self.filename  # a slot of OSError, not in vars()
    return (_rebuild, (type(self), self.args, state))


def _rebuild(cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]) -> BaseException:
    err = cls.__new__(cls, *args)
    builtin: type[BaseException] = next(base for base in cls.__mro__ if base.__module__ == "builtins")
    builtin.__init__(err, *args)  # what the class's own __init__ passed up, without its keywords
    for name, value in state.items():
        setattr(err, name, value)
    return err


class TransportError(OSError):
    """Base of every error a transport raises (:apue:`16.5`).

    The fields say what failed, as Go's ``net.OpError`` does, and the message
    is written from them:

    Attributes:
        op: the operation that failed, a verb of :data:`~transports.errors.OPS` (``"connect"``,
            ``"send_all"`` ...).
        network: the Go-style network name (``"tcp"``, ``"unixgram"`` ...),
            or ``None`` when unknown.
        local: this end's address (an :class:`~transports.InetAddress`,
            :class:`~transports.UnixAddress` ...), or ``None``.
        remote: the peer's (or the target's) address, or ``None``.
        address: where, as a URL-like string for the message, or ``None``.
        bytes_sent: for sending operations, how many bytes the kernel took
            before the failure (``None`` where not meaningful).
        partial: for receiving loops (``recv_exactly``), the bytes that had
            arrived before the failure, so none are lost (``None`` otherwise).

    The subclasses with fields of their own take ``op``, ``network``,
    ``local``, ``remote`` and ``address`` as keywords after those fields,
    typed once as ``transports._errfields.Where`` (:class:`PeerRejected`
    takes ``address`` only: its op is always ``accept``).
    """

    op: str | None
    network: str | None
    local: AddressLike | None
    remote: AddressLike | None
    address: str | None
    bytes_sent: int | None
    partial: bytes | None

    def __init__(
        self, message: str, *, errno: int | None = None, bytes_sent: int | None = None, **where: Unpack[Where]
    ) -> None:
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message)
        op = where.get("op")
        self.op = None if op is None else op_verb(op)
        self.network = where.get("network")
        self.local = where.get("local")
        self.remote = where.get("remote")
        self.address = where.get("address")
        self.bytes_sent = bytes_sent
        self.partial = None

    def __str__(self) -> str:
        return str(self.strerror if self.errno is not None else self.args[0])

    __reduce__ = _reduce_with_fields


class ConnectionRefused(TransportError, ConnectionRefusedError):
    """Nobody listens at the address (ECONNREFUSED, :apue:`16.4`)."""


class ConnectionReset(TransportError, ConnectionResetError):
    """The peer reset the connection (ECONNRESET, :apue:`16.5`)."""


class ConnectionAborted(TransportError, ConnectionAbortedError):
    """The connection was aborted locally (ECONNABORTED, :apue:`16.4`)."""


class BrokenPipe(TransportError, BrokenPipeError):
    """The peer is gone; reported as EPIPE, never as SIGPIPE (:apue:`16.5`)."""


class NotConnected(TransportError):
    """The socket has no peer (ENOTCONN, :apue:`16.4`)."""


class AddressInUse(TransportError):
    """Another socket holds the address (EADDRINUSE, :apue:`16.3.4`)."""


class TransportTimeout(TransportError, TimeoutError):
    """A blocking call outlived the transport's timeout (:apue:`16.8`)."""


class WouldBlock(TransportError, BlockingIOError):
    """A non-blocking call could not proceed now (EAGAIN, :apue:`16.8`)."""


class TransportClosed(TransportError):
    """The transport was already closed by this process (EBADF, :apue:`16.2`)."""


class MessageTooLarge(TransportError):
    """A message-preserving send was larger than the kind allows (EMSGSIZE, :apue:`16.5`).

    Nothing was sent. ``limit`` is the largest payload this transport can send
    in one message (``None`` when the kernel does not say), ``size`` what you tried.
    """

    limit: int | None
    size: int

    def __init__(self, message: str, *, size: int, limit: int | None, **where: Unpack[Where]) -> None:
        super().__init__(message, errno=_errno.EMSGSIZE, bytes_sent=0, **where)
        self.size, self.limit = size, limit


class MessageTruncated(TransportError):
    """A received message did not fit the buffer (MSG_TRUNC, :apue:`16.5`).

    The part that fitted is in ``data``; ``size`` is the message's real size
    when the platform reports it (Linux does), else ``None``. Use
    ``recv_from`` to get truncation as a result instead of an error.
    """

    data: bytes
    size: int | None

    def __init__(self, message: str, *, data: bytes, size: int | None, **where: Unpack[Where]) -> None:
        super().__init__(message, **where)
        self.data, self.size = data, size


class UnexpectedEOF(TransportError, EOFError):
    """The peer closed the stream before the bytes asked for arrived (:apue:`14.7`).

    ``partial`` holds what did arrive; ``expected`` how many bytes were asked
    for; ``received`` how many arrived (for ``recv_into_file`` the bytes are
    in the file, not in ``partial``).
    """

    partial: bytes
    expected: int
    received: int

    def __init__(
        self,
        message: str,
        *,
        partial: bytes,
        expected: int,
        received: int | None = None,
        **where: Unpack[Where],
    ) -> None:
        super().__init__(message, **where)
        self.partial, self.expected = partial, expected
        self.received = len(partial) if received is None else received


class FrameError(TransportError):
    """A byte stream's message framing is broken (:apue:`16.5`).

    Raised by :mod:`transports.framing` when the boundaries between messages
    are lost: an earlier message was cut part-way on send, or one announced
    past the limit is still in the stream. Nothing more can be read or sent
    as messages on that stream: close the transport.
    """


class FrameTooLarge(FrameError, MessageTooLarge):
    """A framed message over the stream's size limit (:apue:`16.5`, :apue:`16.3.1`).

    On send nothing was sent (``bytes_sent`` is 0). On receive ``size`` is
    what the peer's length header (network byte order) announced, or the
    bytes seen without a delimiter; it is refused before any of it is read
    or memory is reserved for it (``bytes_sent`` is ``None``). ``limit`` is
    the stream's ``max_size`` (``max_length`` for lines). Also a
    :class:`MessageTooLarge` and a :class:`FrameError`.
    """

    limit: int

    def __init__(
        self, message: str, *, size: int, limit: int, receiving: bool = False, **where: Unpack[Where]
    ) -> None:
        super().__init__(message, size=size, limit=limit, **where)
        if receiving:
            self.bytes_sent = None


class ZeroCopyUnavailable(TransportError):
    """Zero-copy transfer (``sendfile(2)``, ``splice(2)``) cannot be used here, and fallback was forbidden.

    Raised by ``sendfile(..., fallback=False)`` and ``recv_into_file(...,
    fallback=False)`` before any byte moves; the message says why (a pipe or
    in-memory file, a platform without the call, a file opened for appending).
    sendfile is not in APUE; it extends :apue:`16.5`, :apue:`14.7`.
    """


class FdsTruncated(TransportError):
    """More descriptors arrived than ``recv_fds`` made room for (MSG_CTRUNC, :apue:`17.4`).

    Every descriptor that did arrive was closed (the kernel dropped the
    rest), so none leaks; ``data`` holds the message's data and ``received``
    how many descriptors were closed.
    """

    data: bytes
    received: int

    def __init__(self, message: str, *, data: bytes, received: int, **where: Unpack[Where]) -> None:
        super().__init__(message, **where)
        self.data, self.received = data, received


class PeerRejected(TransportError, PermissionError):
    """A Unix listener refused a peer whose user is not allowed (:apue:`17.3`).

    The connection was closed; ``credentials`` says who it was.
    """

    credentials: Credentials

    def __init__(self, message: str, *, credentials: Credentials, address: str | None = None) -> None:
        super().__init__(message, errno=_errno.EACCES, op="accept", address=address)
        self.credentials = credentials


class UnsupportedFlag(ValueError):
    """A flag the transport's kind or platform cannot honour; refused before any system call (:apue:`16.5`).

    A :class:`ValueError`, not an :class:`OSError`: the call was never made.

    Attributes:
        flag: the refused flags, a :class:`~transports.SendFlags` or
            :class:`~transports.RecvFlags` (only those; the accepted ones are not included).
        network: the transport's network (``"udp"``, ``"unixgram"`` ...).
    """

    flag: enum.IntFlag
    network: str

    def __init__(self, message: str, *, flag: enum.IntFlag, network: str) -> None:
        super().__init__(message)
        self.flag, self.network = flag, network

    __reduce__ = _reduce_with_fields


class UnsupportedOption(ValueError):
    """A socket option this transport or platform does not have; refused before setsockopt (:apue:`16.6`).

    A :class:`ValueError`, not an :class:`OSError`: ``setsockopt`` was never called.

    Attributes:
        op: what was asked (``"set SO_BROADCAST"``), or ``None``.
        address: the transport it was asked of, as a URL-like string, or ``None``.
    """

    op: str | None
    address: str | None

    def __init__(self, message: str, *, op: str | None = None, address: str | None = None) -> None:
        super().__init__(message)
        self.op, self.address = op, address

    __reduce__ = _reduce_with_fields


class AddressError(ValueError):
    """A malformed URL or address, found before any socket exists (:apue:`16.3.2`)."""


class PluginError(RuntimeError):
    """A third-party scheme's entry point could not be loaded (:apue:`16.2`).

    A scheme stands for a domain and a type, as ``socket(2)``'s arguments do,
    and a plugin supplies the transport behind it.

    The message names the scheme, the entry point and its distribution.
    Built-in schemes keep working whatever a plugin does.
    """


class UnknownScheme(AddressError):
    """A URL scheme no registered transport handles (:apue:`16.3.3`).

    ``known`` lists the schemes that are registered.
    """

    scheme: str
    known: tuple[str, ...]

    def __init__(self, scheme: str, known: Sequence[str]) -> None:
        self.scheme = scheme
        self.known = tuple(sorted(known))
        super().__init__(f"unknown URL scheme {scheme!r}; known schemes: {', '.join(self.known)}")

    # ValueError pickles through args (the message), but __init__ takes the scheme and the known ones.
    __reduce__ = _reduce_with_fields


class FileWriteError(OSError):
    """Writing the target file of ``recv_into_file`` failed (:apue:`14.7`, :apue:`16.5`).

    A full disk (``ENOSPC``), a file size limit (``EFBIG``), a pipe whose
    reader has gone (``EPIPE``), a file object whose ``write`` raised an
    :class:`OSError`: the fault is the file's, not the connection's, so this
    is an :class:`OSError` but not a :class:`~transports.TransportError`.
    The transport is untouched and still open; its stream goes on right
    after the bytes in ``partial``.

    Attributes:
        errno: that of the failed write (``None`` when a file object
            raised an :class:`OSError` without one).
        strerror: the text of the failed write's error.
        filename: the file's path when it is known, else ``None``.
        target: the file as the message names it (a path, a descriptor, an object).
        op: ``"recv_into_file"``.
        address: the transport, as a URL.
        received: bytes this call took from the stream.
        written: how many of those reached the file (it grew by that much).
        partial: the other ``received - written`` bytes, in stream order:
            taken from the stream but not written, so none is lost.
    """

    op: str
    address: str
    target: str
    received: int
    written: int
    partial: bytes

    def __init__(
        self,
        code: int | None,
        reason: str,
        *,
        filename: str | None,
        target: str,
        address: str,
        received: int,
        written: int,
        partial: bytes,
        op: str = "recv_into_file",
    ) -> None:
        super().__init__(code, reason)
        self.filename, self.target, self.op, self.address = filename, target, op, address
        self.received, self.written, self.partial = received, written, partial

    def __str__(self) -> str:
        # Built from the fields, as Go's *PathError does, so that the counts in it are always the fields'.
        why = reason(self.errno, self.strerror, "the write failed")
        hint = WRITE_HINTS.get(self.errno or 0, "check the file")
        return (
            f"{self.op} {self.address}: writing to the file {self.target} failed: {why}; {hint}. "
            f"{self.received} bytes were taken from the stream: {self.written} reached the file, the other "
            f"{len(self.partial)} are in .partial; the transport is still open"
        )

    __reduce__ = _reduce_with_fields


#: The class of error for each errno; any other is a plain TransportError.
_CLASSES: dict[int, type[TransportError]] = {
    _errno.ECONNREFUSED: ConnectionRefused,
    _errno.ECONNRESET: ConnectionReset,
    _errno.ECONNABORTED: ConnectionAborted,
    _errno.EPIPE: BrokenPipe,
    _errno.ENOTCONN: NotConnected,
    _errno.EDESTADDRREQ: NotConnected,
    _errno.EADDRINUSE: AddressInUse,
    _errno.ETIMEDOUT: TransportTimeout,
    _errno.EAGAIN: WouldBlock,
    _errno.EBADF: TransportClosed,
}


def translate_os_error(
    exc: OSError,
    op: str,
    address: str | None,
    *,
    bytes_sent: int | None = None,
    timeout: float | None = None,
    network: str | None = None,
    local: AddressLike | None = None,
    remote: AddressLike | None = None,
) -> TransportError:
    """Turn a raw :class:`OSError` from the socket module into our hierarchy (:apue:`16.5`).

    *op* is the operation's verb (:data:`~transports.errors.OPS`) or the phrase the message
    uses for it (``"connect to"``); the error's ``op`` is the verb. The
    caller raises the result ``from exc``. Errors that are already
    :class:`TransportError` are returned unchanged.
    """
    if isinstance(exc, TransportError):
        return exc
    text = os_error_text(exc, f"{op} {address}" if address else op, bytes_sent, timeout)
    code = exc.errno
    cls: type[TransportError] = TransportError if code is None else _CLASSES.get(code, TransportError)
    if code is None and isinstance(exc, TimeoutError):
        cls, code = TransportTimeout, _errno.ETIMEDOUT
    where = Where(op=op, address=address, network=network, local=local, remote=remote)
    return cls(text, errno=code, bytes_sent=bytes_sent, **where)
