"""POSIX message queues as a typed-transports scheme, ``mqueue:///name`` (APUE 15.7 Message Queues).

A message queue keeps whole messages, in order, until someone reads them.
APUE 15.7 describes the XSI flavour (``msgget``/``msgsnd``/``msgrcv``);
POSIX queues, used here through the ``posix_ipc`` package, are the same idea
with names. A queue goes one way, so a connection is two of them:
``bind("mqueue:///jobs")`` creates ``/jobs.in`` and ``/jobs.out`` and holds
the server end; ``connect("mqueue:///jobs")`` opens them from the other side.
Installing this package registers the scheme through the
``transports.schemes`` entry point::

    server = transports.bind("mqueue:///jobs", timeout=5)
    client = transports.connect("mqueue:///jobs", timeout=5)
    client.send(b"job 1")
    server.recv(8192)  # b"job 1"

Both ends are :class:`transports.Transport` objects of kind DATAGRAM: one
send is one receive; a receive buffer too small for the message raises
:class:`~transports.MessageTruncated` (``posix_ipc`` always hands over the
whole message, so the check is ours); a send above ``max_message_size``
raises :class:`~transports.MessageTooLarge`; timeouts and
``RecvFlags.DONTWAIT`` work; ``RecvFlags.PEEK`` is refused (a queue cannot
peek). The server end removes the queues when it closes.
"""

from __future__ import annotations

import contextlib
import errno
import io
from types import TracebackType
from typing import NoReturn, Self

import posix_ipc
from typing_extensions import Buffer

from transports import (
    AddressError,
    Kind,
    MessageTooLarge,
    MessageTruncated,
    NamedAddress,
    OpenArgs,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnsupportedOption,
    WouldBlock,
)
from transports.flags import check_flags

__all__ = ["SCHEME", "MQueueScheme", "MQueueTransport"]

# What a queue can honour: not waiting. There is no out-of-band data, no
# routing, no record mark, and mq_receive cannot peek.
_SEND_ALLOWED = int(SendFlags.DONTWAIT | SendFlags.NOSIGNAL)
_RECV_ALLOWED = int(RecvFlags.DONTWAIT)


def queue_name(url: str) -> str:
    """The queue name in an ``mqueue:`` URL: ``mqueue:///jobs`` and ``mqueue://jobs`` both give ``/jobs``."""
    scheme, _, rest = url.partition(":")
    name = rest.removeprefix("//").removeprefix("/")
    if scheme.lower() != "mqueue" or not name or "/" in name or len(name) > 250:
        raise AddressError(f"{url!r} is not a message queue URL like mqueue:///name (one name, no slashes)")
    return f"/{name}"


class MQueueTransport:
    """One end of a two-queue connection (APUE 15.7 Message Queues).

    Make ends with :meth:`bind` (the server: creates the queues) and
    :meth:`connect` (the client: opens them), or through the URLs.
    """

    def __init__(
        self,
        name: str,
        incoming: posix_ipc.MessageQueue,
        outgoing: posix_ipc.MessageQueue,
        *,
        owner: bool,
        timeout: float | None,
    ) -> None:
        self._name = name
        self._in = incoming
        self._out = outgoing
        self._owner = owner
        self._closed = False
        self.timeout = timeout

    @classmethod
    def bind(
        cls,
        name: str,
        *,
        timeout: float | None = None,
        mode: int = 0o600,
        max_messages: int = 10,
        max_message_size: int = 8192,
    ) -> Self:
        """Create the queues ``name.in`` and ``name.out`` (they must not exist) and return the server end."""
        made: list[posix_ipc.MessageQueue] = []
        try:
            for suffix in (".in", ".out"):
                made.append(
                    posix_ipc.MessageQueue(
                        name + suffix, posix_ipc.O_CREX, mode, max_messages, max_message_size
                    )
                )
        except posix_ipc.Error as exc:
            for queue in made:
                queue.close()
                queue.unlink()
            raise TransportError(
                f"bind mqueue://{name}: {exc}; is another server bound there?",
                errno=errno.EEXIST if isinstance(exc, posix_ipc.ExistentialError) else None,
                op="bind",
                address=f"mqueue://{name}",
            ) from exc
        return cls(name, made[0], made[1], owner=True, timeout=timeout)

    @classmethod
    def connect(cls, name: str, *, timeout: float | None = None) -> Self:
        """Open the queues of the server bound at *name*; return the client end."""
        try:
            to_server = posix_ipc.MessageQueue(name + ".in")
        except posix_ipc.Error as exc:
            raise TransportError(
                f"connect mqueue://{name}: {exc}; is a server bound there?",
                errno=errno.ENOENT,
                op="connect",
                address=f"mqueue://{name}",
            ) from exc
        try:
            from_server = posix_ipc.MessageQueue(name + ".out")
        except posix_ipc.Error as exc:
            to_server.close()
            raise TransportError(
                f"connect mqueue://{name}: {exc}", op="connect", address=f"mqueue://{name}"
            ) from exc
        return cls(name, from_server, to_server, owner=False, timeout=timeout)

    # -- what every transport has ---------------------------------------------------------

    @property
    def kind(self) -> Kind:
        """DATAGRAM: whole messages, no connection state to end."""
        return Kind.DATAGRAM

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    @property
    def timeout(self) -> float | None:
        """Seconds a send or receive may wait; None forever, 0 never."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        if value is not None and not value >= 0:
            raise ValueError(f"timeout must be >= 0 seconds or None, got {value!r}")
        self._timeout = None if value is None else float(value)

    @property
    def local_address(self) -> NamedAddress:
        """The connection's name, e.g. ``mqueue:///jobs``."""
        return NamedAddress("mqueue", self._name)

    @property
    def remote_address(self) -> NamedAddress:
        """The same name: both ends share the two queues."""
        return NamedAddress("mqueue", self._name)

    @property
    def max_message_size(self) -> int:
        """The largest message the outgoing queue accepts (its ``mq_msgsize``)."""
        return self._out.max_message_size

    def fileno(self) -> int:
        """The incoming queue's descriptor: on Linux an ``mqd_t`` is a file descriptor you can poll.

        Elsewhere raises :class:`io.UnsupportedOperation` (an OSError): a
        message queue is not a socket. -1 once closed.
        """
        if self._closed:
            return -1
        mqd: int | None = getattr(self._in, "mqd", None)
        if mqd is None:
            raise io.UnsupportedOperation("message queue descriptors are not files on this platform")
        return mqd

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Put one message on the outgoing queue; return its length."""
        check_flags(flags, SendFlags, _SEND_ALLOWED, "mqueue")
        self._check_open("send")
        with memoryview(data) as view:
            message = view.tobytes()
        if len(message) > self.max_message_size:
            raise MessageTooLarge(
                f"send {self._url}: a {len(message)}-byte message is larger than the queue's "
                f"limit of {self.max_message_size} bytes; nothing was sent",
                size=len(message),
                limit=self.max_message_size,
                op="send",
                address=self._url,
            )
        try:
            self._out.send(message, self._wait(flags))
        except posix_ipc.BusyError as exc:
            self._busy(exc, "send", flags, "the queue is full")
        return len(message)

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Take one message; MessageTruncated if it is longer than *max_bytes*."""
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        message = self._receive(flags, "recv")
        if len(message) > max_bytes:
            raise self._truncated("recv", message, max_bytes)
        return message

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Take one message into *buffer*; MessageTruncated (with the part that fitted stored) if it is longer."""
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if not 0 <= nbytes <= len(view):
                raise ValueError(f"nbytes must be 0..{len(view)} (the buffer's size), got {nbytes}")
            room = nbytes or len(view)
            message = self._receive(flags, "recv_into")
            count = min(len(message), room)
            view[:count] = message[:count]
        if len(message) > room:
            raise self._truncated("recv_into", message, room)
        return count

    def close(self) -> None:
        """Close both queues; the server end also removes them. Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        for queue in (self._in, self._out):
            queue.close()
            if self._owner:
                with contextlib.suppress(posix_ipc.ExistentialError):
                    queue.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("server" if self._owner else "client")
        return f"<MQueueTransport {self._url} {state}>"

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _url(self) -> str:
        return f"mqueue://{self._name}"

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise TransportClosed(
                f"{op} {self._url}: the transport is closed; open a new one",
                errno=errno.EBADF,
                op=op,
                address=self._url,
            )

    def _wait(self, flags: SendFlags | RecvFlags) -> float | None:
        """posix_ipc's timeout argument: 0 never waits, None waits forever."""
        return 0 if int(flags) & (int(SendFlags.DONTWAIT) | int(RecvFlags.DONTWAIT)) else self._timeout

    def _receive(self, flags: RecvFlags, op: str) -> bytes:
        check_flags(flags, RecvFlags, _RECV_ALLOWED, "mqueue")
        self._check_open(op)
        try:
            message, _priority = self._in.receive(self._wait(flags))
        except posix_ipc.BusyError as exc:
            self._busy(exc, op, flags, "no message came")
        return message

    def _busy(self, exc: posix_ipc.BusyError, op: str, flags: SendFlags | RecvFlags, why: str) -> NoReturn:
        """posix_ipc says BusyError both for 'would block' and for 'timed out': tell them apart."""
        if self._wait(flags) == 0:
            raise WouldBlock(
                f"{op} {self._url}: {why} and the call may not wait",
                errno=errno.EAGAIN,
                op=op,
                address=self._url,
            ) from exc
        raise TransportTimeout(
            f"{op} {self._url}: {why} within the timeout of {self._timeout} s",
            errno=errno.ETIMEDOUT,
            op=op,
            address=self._url,
        ) from exc

    def _truncated(self, op: str, message: bytes, room: int) -> MessageTruncated:
        return MessageTruncated(
            f"{op} {self._url}: a {len(message)}-byte message did not fit the {room}-byte buffer; "
            "the first part is in .data, the rest is gone; receive with max_message_size bytes",
            data=message[:room],
            size=len(message),
            op=op,
            address=self._url,
        )


class MQueueScheme:
    """The ``mqueue`` scheme's factory, found through the ``transports.schemes`` entry point (APUE 15.7)."""

    kind = Kind.DATAGRAM
    description = "POSIX message queue pair (plugin example)"

    def bind(self, url: str, args: OpenArgs) -> MQueueTransport:
        """The server end: create the queues named in *url*."""
        self._no_options(url, args)
        return MQueueTransport.bind(queue_name(url), timeout=args.timeout, mode=args.mode or 0o600)

    def connect(self, url: str, args: OpenArgs) -> MQueueTransport:
        """The client end: open the queues a server created."""
        self._no_options(url, args)
        return MQueueTransport.connect(queue_name(url), timeout=args.timeout)

    def listen(self, url: str, args: OpenArgs) -> NoReturn:
        """Refused: a queue has no connections to accept."""
        raise AddressError(f"listen({url!r}): message queues are not accepted; use transports.bind() instead")

    def _no_options(self, url: str, args: OpenArgs) -> None:
        if args.options:
            raise UnsupportedOption(f"{url}: message queues have no socket options", op="open", address=url)


#: The object the entry point ``mqueue = "transports_mqueue:SCHEME"`` names.
SCHEME = MQueueScheme()
