"""One error hierarchy for every transport (APUE 16.5 Data Transfer, 16.4 Connection Establishment).

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
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from transports.flags import RecvFlags, SendFlags

if TYPE_CHECKING:  # fdpass and addresses import this module: no cycle at run time
    from transports.addresses import Address
    from transports.fdpass import Credentials

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
        "send_message", "recv_message",
    }
)  # fmt: skip

#: Phrases the messages use, by the verb they stand for in ``op``.
_PHRASES = {
    "connect to": "connect",
    "accept on": "accept",
    "listen on": "listen",
    "socket for": "socket",
    "set timeout on": "settimeout",
    "peer_credentials of": "peer_credentials",
    # A Unix bind first looks at what is at its path (APUE 17.3): part of bind.
    "inspect": "bind",
    "probe": "bind",
    "remove stale socket": "bind",
    "create the start lock for": "bind",
    "sendfile headers": "sendfile",
    "sendfile trailers": "sendfile",
    "sendfile: read the file for": "sendfile",
}


def op_verb(op: str) -> str:
    """The verb of :data:`OPS` that a message's phrase names (``"connect to"`` -> ``"connect"``).

    Options name themselves in their phrase (``"set SO_RCVBUF on"``): those
    are ``setsockopt`` and ``getsockopt``. An unknown phrase is returned as it is.
    """
    if op in OPS:
        return op
    verb = _PHRASES.get(op)
    if verb is not None:
        return verb
    if op.startswith("set ") and op.endswith(" on"):
        return "setsockopt"
    if op.startswith("get ") and op.endswith(" of"):
        return "getsockopt"
    return op


class TransportError(OSError):
    """Base of every error a transport raises (APUE 16.5 Data Transfer).

    The fields say what failed, as Go's ``net.OpError`` does, and the message
    is written from them:

    Attributes:
        op: the operation that failed, a verb of :data:`OPS` (``"connect"``,
            ``"send_all"`` ...).
        network: the Go-style network name (``"tcp"``, ``"unixgram"`` ...),
            or ``None`` when unknown.
        local: this end's address (an :class:`~transports.addresses.InetAddress`,
            :class:`~transports.addresses.UnixAddress` ...), or ``None``.
        remote: the peer's (or the target's) address, or ``None``.
        address: where, as a URL-like string for the message, or ``None``.
        bytes_sent: for sending operations, how many bytes the kernel took
            before the failure (``None`` where not meaningful).
        partial: for receiving loops (``recv_exactly``), the bytes that had
            arrived before the failure, so none are lost (``None`` otherwise).
    """

    op: str | None
    network: str | None
    local: Address | None
    remote: Address | None
    address: str | None
    bytes_sent: int | None
    partial: bytes | None

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        op: str | None = None,
        address: str | None = None,
        bytes_sent: int | None = None,
        network: str | None = None,
        local: Address | None = None,
        remote: Address | None = None,
    ) -> None:
        if errno is None:
            super().__init__(message)
        else:
            super().__init__(errno, message)
        self.op = None if op is None else op_verb(op)
        self.network = network
        self.local = local
        self.remote = remote
        self.address = address
        self.bytes_sent = bytes_sent
        self.partial = None

    def __str__(self) -> str:
        return str(self.strerror if self.errno is not None else self.args[0])

    def __reduce__(self) -> tuple[object, ...]:
        # OSError pickles through args only; keep our keyword attributes too.
        return (_rebuild, (type(self), str(self), dict(self.__dict__), self.errno))


def _rebuild(
    cls: type[TransportError], message: str, state: dict[str, object], errno: int | None
) -> TransportError:
    err = cls.__new__(cls)
    TransportError.__init__(err, message, errno=errno)
    err.__dict__.update(state)
    return err


class ConnectionRefused(TransportError, ConnectionRefusedError):
    """Nobody listens at the address (ECONNREFUSED, APUE 16.4 Connection Establishment)."""


class ConnectionReset(TransportError, ConnectionResetError):
    """The peer reset the connection (ECONNRESET, APUE 16.5 Data Transfer)."""


class ConnectionAborted(TransportError, ConnectionAbortedError):
    """The connection was aborted locally (ECONNABORTED, APUE 16.4 Connection Establishment)."""


class BrokenPipe(TransportError, BrokenPipeError):
    """The peer is gone; reported as EPIPE, never as SIGPIPE (APUE 16.5 Data Transfer)."""


class NotConnected(TransportError):
    """The socket has no peer (ENOTCONN, APUE 16.4 Connection Establishment)."""


class AddressInUse(TransportError):
    """Another socket holds the address (EADDRINUSE, APUE 16.3.4 Associating Addresses with Sockets)."""


class TransportTimeout(TransportError, TimeoutError):
    """A blocking call outlived the transport's timeout (APUE 16.8 Nonblocking and Asynchronous I/O)."""


class WouldBlock(TransportError, BlockingIOError):
    """A non-blocking call could not proceed now (EAGAIN, APUE 16.8 Nonblocking and Asynchronous I/O)."""


class TransportClosed(TransportError):
    """The transport was already closed by this process (EBADF, APUE 16.2 Socket Descriptors)."""


class MessageTooLarge(TransportError):
    """A message-preserving send was larger than the kind allows (EMSGSIZE, APUE 16.5 Data Transfer).

    Nothing was sent. ``limit`` is the largest payload this transport can send
    in one message (``None`` when the kernel does not say), ``size`` what you tried.
    """

    limit: int | None
    size: int

    def __init__(
        self,
        message: str,
        *,
        size: int,
        limit: int | None,
        op: str | None = None,
        address: str | None = None,
    ) -> None:
        super().__init__(message, errno=_errno.EMSGSIZE, op=op, address=address, bytes_sent=0)
        self.size = size
        self.limit = limit


class MessageTruncated(TransportError):
    """A received message did not fit the buffer (MSG_TRUNC, APUE 16.5 Data Transfer).

    The part that fitted is in ``data``; ``size`` is the message's real size
    when the platform reports it (Linux does), else ``None``. Use
    ``recv_from`` to get truncation as a result instead of an error.
    """

    data: bytes
    size: int | None

    def __init__(
        self,
        message: str,
        *,
        data: bytes,
        size: int | None,
        op: str | None = None,
        address: str | None = None,
    ) -> None:
        super().__init__(message, op=op, address=address)
        self.data = data
        self.size = size


class UnexpectedEOF(TransportError, EOFError):
    """The peer closed the stream before the bytes asked for arrived (APUE 14.7 readn and writen).

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
        op: str | None = None,
        address: str | None = None,
    ) -> None:
        super().__init__(message, op=op, address=address)
        self.partial = partial
        self.expected = expected
        self.received = len(partial) if received is None else received


class FrameError(TransportError):
    """A byte stream's message framing is broken (APUE 16.5 Data Transfer).

    Raised by :mod:`transports.framing` when the boundaries between messages
    are lost: an earlier message was cut part-way on send, or one announced
    past the limit is still in the stream. Nothing more can be read or sent
    as messages on that stream: close the transport.
    """


class FrameTooLarge(FrameError, MessageTooLarge):
    """A framed message over the stream's size limit (APUE 16.5 Data Transfer, 16.3.1 Byte Ordering).

    On send nothing was sent (``bytes_sent`` is 0). On receive ``size`` is
    what the peer's length header (network byte order) announced, or the
    bytes seen without a delimiter; it is refused before any of it is read
    or memory is reserved for it (``bytes_sent`` is ``None``). ``limit`` is
    the stream's ``max_size`` (``max_length`` for lines). Also a
    :class:`MessageTooLarge` and a :class:`FrameError`.
    """

    limit: int

    def __init__(
        self,
        message: str,
        *,
        size: int,
        limit: int,
        op: str | None = None,
        address: str | None = None,
        receiving: bool = False,
    ) -> None:
        super().__init__(message, size=size, limit=limit, op=op, address=address)
        if receiving:
            self.bytes_sent = None


class ZeroCopyUnavailable(TransportError):
    """Zero-copy transfer (``sendfile(2)``, ``splice(2)``) cannot be used here, and fallback was forbidden.

    Raised by ``sendfile(..., fallback=False)`` and ``recv_into_file(...,
    fallback=False)`` before any byte moves; the message says why (a pipe or
    in-memory file, a platform without the call, a file opened for appending).
    sendfile is not in APUE; it extends APUE 16.5 Data Transfer and 14.7
    readn and writen.
    """


class FdsTruncated(TransportError):
    """More descriptors arrived than ``recv_fds`` made room for (MSG_CTRUNC, APUE 17.4 Passing File Descriptors).

    Every descriptor that did arrive was closed (the kernel dropped the
    rest), so none leaks; ``data`` holds the message's data and ``received``
    how many descriptors were closed.
    """

    data: bytes
    received: int

    def __init__(
        self,
        message: str,
        *,
        data: bytes,
        received: int,
        op: str | None = None,
        address: str | None = None,
    ) -> None:
        super().__init__(message, op=op, address=address)
        self.data = data
        self.received = received


class PeerRejected(TransportError, PermissionError):
    """A Unix listener refused a peer whose user is not allowed (APUE 17.3 Unique Connections).

    The connection was closed; ``credentials`` says who it was.
    """

    credentials: Credentials

    def __init__(self, message: str, *, credentials: Credentials, address: str | None = None) -> None:
        super().__init__(message, errno=_errno.EACCES, op="accept", address=address)
        self.credentials = credentials


def _reduce_mistake(self: ValueError) -> tuple[object, ...]:
    # ValueError pickles through args (the message) only; keep the keyword attributes too.
    return (_rebuild_mistake, (type(self), str(self), dict(self.__dict__)))


def _rebuild_mistake(cls: type[ValueError], message: str, state: dict[str, object]) -> ValueError:
    err = cls.__new__(cls)
    ValueError.__init__(err, message)
    err.__dict__.update(state)
    return err


class UnsupportedFlag(ValueError):
    """A flag the transport's kind or platform cannot honour; refused before any system call (APUE 16.5 Data Transfer).

    A :class:`ValueError`, not an :class:`OSError`: the call was never made.

    Attributes:
        flag: the refused flags (only those; the accepted ones are not included).
        network: the transport's network (``"udp"``, ``"unixgram"`` ...).
    """

    flag: SendFlags | RecvFlags
    network: str

    def __init__(self, message: str, *, flag: SendFlags | RecvFlags, network: str) -> None:
        super().__init__(message)
        self.flag = flag
        self.network = network

    __reduce__ = _reduce_mistake


class UnsupportedOption(ValueError):
    """A socket option this transport or platform does not have; refused before setsockopt (APUE 16.6 Socket Options).

    A :class:`ValueError`, not an :class:`OSError`: ``setsockopt`` was never called.

    Attributes:
        op: what was asked (``"set SO_BROADCAST"``), or ``None``.
        address: the transport it was asked of, as a URL-like string, or ``None``.
    """

    op: str | None
    address: str | None

    def __init__(self, message: str, *, op: str | None = None, address: str | None = None) -> None:
        super().__init__(message)
        self.op = op
        self.address = address

    __reduce__ = _reduce_mistake


class AddressError(ValueError):
    """A malformed URL or address, found before any socket exists (APUE 16.3.2 Address Formats)."""


class PluginError(RuntimeError):
    """A third-party scheme's entry point could not be loaded (APUE 16.3.3 Address Lookup).

    The message names the scheme, the entry point and its distribution.
    Built-in schemes keep working whatever a plugin does.
    """


class UnknownScheme(AddressError):
    """A URL scheme no registered transport handles (APUE 16.3.3 Address Lookup).

    ``known`` lists the schemes that are registered.
    """

    scheme: str
    known: tuple[str, ...]

    def __init__(self, scheme: str, known: Sequence[str]) -> None:
        self.scheme = scheme
        self.known = tuple(sorted(known))
        super().__init__(f"unknown URL scheme {scheme!r}; known schemes: {', '.join(self.known)}")

    def __reduce__(self) -> tuple[object, ...]:
        # ValueError pickles through args (the message) only; rebuild from our two fields.
        return (type(self), (self.scheme, self.known))


#: What to do about a failed write to the target file, by _errno.
_WRITE_HINTS = {
    _errno.ENOSPC: "free space on the file's filesystem or write the file elsewhere",
    _errno.EDQUOT: "the disk quota is used up; free space or raise the quota",
    _errno.EFBIG: "the file would grow past the file size limit (ulimit -f, RLIMIT_FSIZE) or the "
    "largest file its filesystem allows",
    _errno.EBADF: "the descriptor is not open for writing any more; pass one open for writing",
    _errno.EPIPE: "the reader of that pipe or socket has gone",
    _errno.EROFS: "the filesystem is mounted read-only; write the file elsewhere",
    _errno.EIO: "the device reported an I/O error; check it",
}


class FileWriteError(OSError):
    """Writing the target file of ``recv_into_file`` failed (APUE 14.7 readn and writen, 16.5 Data Transfer).

    A full disk (``ENOSPC``), a file size limit (``EFBIG``), a pipe whose
    reader has gone (``EPIPE``), a file object whose ``write`` raised an
    :class:`OSError`: the fault is the file's, not the connection's, so this
    is an :class:`OSError` but not a :class:`~transports.errors.TransportError`.
    The transport is untouched and still open; its stream goes on right
    after the bytes in ``partial``.

    Attributes:
        errno, strerror: those of the failed write (``errno`` is ``None``
            when a file object raised an :class:`OSError` without one).
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
        self.filename = filename
        self.target = target
        self.op = op
        self.address = address
        self.received = received
        self.written = written
        self.partial = partial

    def __str__(self) -> str:
        # Built from the fields, as Go's *PathError does, so that the counts in it are always the fields'.
        name = _errno.errorcode.get(self.errno) if self.errno is not None else None
        reason = f"{self.strerror[:1].lower()}{self.strerror[1:]}" if self.strerror else "the write failed"
        code = f" ({name})" if name else ""
        hint = _WRITE_HINTS.get(self.errno or 0, "check the file")
        return (
            f"{self.op} {self.address}: writing to the file {self.target} failed: {reason}{code}; {hint}. "
            f"{self.received} bytes were taken from the stream: {self.written} reached the file, the other "
            f"{len(self.partial)} are in .partial; the transport is still open"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # OSError pickles through args only; keep the keyword fields too.
        state = dict(self.__dict__)
        return (_rebuild_write_error, (type(self), self.errno, self.strerror, self.filename, state))


def _rebuild_write_error(
    cls: type[FileWriteError], code: int | None, reason: str, filename: str | None, state: dict[str, object]
) -> FileWriteError:
    err = cls.__new__(cls)
    OSError.__init__(err, code, reason)
    err.filename = filename
    err.__dict__.update(state)
    return err


# errno -> (class, short hint). Anything else becomes a plain TransportError.
_BY_ERRNO: dict[int, tuple[type[TransportError], str]] = {
    _errno.ECONNREFUSED: (ConnectionRefused, "is a server listening there?"),
    _errno.ECONNRESET: (ConnectionReset, "the peer reset the connection; reconnect if you need to go on"),
    _errno.ECONNABORTED: (ConnectionAborted, "the connection was aborted; reconnect if you need to go on"),
    _errno.EPIPE: (BrokenPipe, "the peer has closed its end; stop sending and close this transport"),
    _errno.ENOTCONN: (NotConnected, "connect the transport first, or use send_to with an address"),
    _errno.EDESTADDRREQ: (NotConnected, "connect the transport first, or use send_to with an address"),
    _errno.EADDRINUSE: (AddressInUse, "another socket is bound there; choose another address or port 0"),
    _errno.ETIMEDOUT: (TransportTimeout, "the peer did not answer in time; check that it is reachable"),
    _errno.EAGAIN: (WouldBlock, "nothing can be done without blocking now; wait for readiness and retry"),
    _errno.EBADF: (TransportClosed, "the transport is closed; open a new one"),
    _errno.ENOENT: (TransportError, "no socket file at that path; is the server running?"),
    _errno.EACCES: (TransportError, "permission denied; check the socket file's mode and owner"),
    _errno.EADDRNOTAVAIL: (TransportError, "that address is not on this host; bind to a local address"),
    _errno.ENETUNREACH: (TransportError, "no route to that network; check the address"),
    _errno.EHOSTUNREACH: (TransportError, "no route to that host; check the address"),
}


def translate_os_error(
    exc: OSError,
    op: str,
    address: str | None,
    *,
    bytes_sent: int | None = None,
    timeout: float | None = None,
    network: str | None = None,
    local: Address | None = None,
    remote: Address | None = None,
) -> TransportError:
    """Turn a raw :class:`OSError` from the socket module into our hierarchy.

    *op* is the operation's verb (:data:`OPS`) or the phrase the message
    uses for it (``"connect to"``); the error's ``op`` is the verb. The
    caller raises the result ``from exc``. Errors that are already
    :class:`TransportError` are returned unchanged.
    """
    if isinstance(exc, TransportError):
        return exc
    where = f"{op} {address}" if address else op
    sent = f" after {bytes_sent} bytes were sent" if bytes_sent else ""

    def make(cls: type[TransportError], text: str, code: int | None) -> TransportError:
        return cls(
            text,
            errno=code,
            op=op,
            address=address,
            bytes_sent=bytes_sent,
            network=network,
            local=local,
            remote=remote,
        )

    code = exc.errno
    if code is None and isinstance(exc, TimeoutError):
        limit = f" of {timeout:g} s" if timeout is not None else ""
        text = f"{where}: timed out{sent} (timeout{limit}); raise the timeout or check the peer"
        return make(TransportTimeout, text, _errno.ETIMEDOUT)
    if code is None:
        return make(TransportError, f"{where}: {exc}{sent}", None)
    cls, hint = _BY_ERRNO.get(code, (TransportError, ""))
    name = _errno.errorcode.get(code, str(code))
    reason = exc.strerror or os.strerror(code)
    text = f"{where}: {reason[:1].lower()}{reason[1:]} ({name}){sent}"
    if hint:
        text += f"; {hint}"
    return make(cls, text, code)
