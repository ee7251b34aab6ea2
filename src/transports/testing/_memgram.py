"""The ``memorygram://`` endpoint, written once for both faces (:apue:`17.2`, :apue:`16.5`).

:class:`DatagramCore` holds everything that does not wait (the name, the
queue, the peer, closing) and each call that may wait as an
:data:`~transports.testing._memory.Op`;
:class:`transports.MemoryDatagramTransport` drives them in
the calling thread, :class:`transports.testing.aio_memory.MemoryDatagramTransport`
on the event loop. Both faces share :data:`ENDPOINTS`, so either can send to the other.
"""

from __future__ import annotations

import collections
import errno
import itertools
from typing import Self

from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports._core.validate import check_size
from transports.addresses import Address, Datagram, NamedAddress
from transports.errors import AddressError, ConnectionRefused, MessageTooLarge, MessageTruncated, NotConnected
from transports.flags import RecvFlags, SendFlags, allowed_masks, check_flags
from transports.kinds import Kind
from transports.testing._memory import CAPACITY, Gate, MemoryBase, Names, Op, failure, name_of

__all__ = ["ENDPOINTS", "DatagramCore"]

#: The ``memorygram://`` endpoints of both faces, by name.
ENDPOINTS: Names[DatagramCore] = Names("memorygram", "memory endpoint")
_anonymous = itertools.count(1)


class DatagramCore(MemoryBase):
    """An in-memory datagram endpoint, on either face: reliable and ordered like a Unix datagram socket (:apue:`17.2`).

    Messages wait in the receiver's queue of ``capacity`` bytes; a full
    queue makes senders wait. A message larger than ``capacity`` raises
    :class:`~transports.MessageTooLarge`.
    """

    network = "memorygram"
    _kind = Kind.DATAGRAM
    _send_allowed, _recv_allowed = allowed_masks(network)

    def __init__(self, name: str | None = None, *, capacity: int = CAPACITY) -> None:
        label = name_of(name, "memorygram") if name is not None else f"anonymous-{next(_anonymous)}"
        super().__init__(Gate(), NamedAddress("memorygram", label))
        self._capacity = check_size("capacity", capacity)
        self._queue: collections.deque[tuple[bytes, NamedAddress]] = collections.deque()
        self._queued = 0
        self._peer: NamedAddress | None = None
        ENDPOINTS.claim(label, self, "bind")

    @classmethod
    def _connected(cls, name: str | NamedAddress, capacity: int) -> Self:
        """An anonymous endpoint whose peer is fixed to *name*, which must exist (``connect`` on both faces)."""
        target = name_of(name, "memorygram")
        ENDPOINTS.find(target, "connect to", "bind it first")
        endpoint = cls(None, capacity=capacity)
        endpoint._peer = NamedAddress("memorygram", target)
        return endpoint

    @classmethod
    def pair(cls, *, capacity: int = CAPACITY) -> tuple[Self, Self]:
        """Two endpoints connected to each other."""
        a, b = cls(None, capacity=capacity), cls(None, capacity=capacity)
        a._peer, b._peer = b._local, a._local
        return a, b

    @property
    def remote_address(self) -> Address | None:
        """The fixed peer, or None."""
        return self._peer

    @property
    def max_message_size(self) -> int:
        """The largest message: the receiver's capacity."""
        return self._capacity

    def _send_op(self, data: Buffer, flags: SendFlags) -> Op[int]:
        """Send one message to the fixed peer."""
        if self._peer is None:
            if self._closed:
                raise self._closed_error("send")
            raise failure(
                NotConnected, errno.ENOTCONN, "send", self._where(), "no peer; connect first or use send_to"
            )
        return (yield from self._send_to_op(data, self._peer, flags))

    def _send_to_op(
        self, data: Buffer, address: Address | tuple[str, int] | str, flags: SendFlags
    ) -> Op[int]:
        """Send one message to the endpoint named *address*."""
        if flags:
            check_flags(flags, SendFlags, self._send_allowed, self.network)
        if self._closed:
            raise self._closed_error("send_to")
        if isinstance(address, tuple) or (not isinstance(address, str | NamedAddress)):
            raise AddressError(f"a memorygram endpoint sends to a name or NamedAddress, got {address!r}")
        target_name = name_of(address, "memorygram")
        where = f"memorygram://{target_name}"
        with memoryview(data) as whole, whole.cast("B") as view:
            payload = bytes(view)
        target = ENDPOINTS.find(target_name, "send_to", "it was closed, or never bound")
        if len(payload) > target._capacity:
            raise MessageTooLarge(
                f"send_to {where}: a {len(payload)}-byte message is larger than the endpoint's "
                f"capacity ({target._capacity} bytes); nothing was sent",
                size=len(payload),
                limit=target._capacity,
                op="send_to",
                address=where,
            )
        yield (
            target._gate,
            lambda: target._has_room(len(payload)),
            Deadline(self._timeout),
            bool(flags & SendFlags.DONTWAIT),
            "send_to",
        )
        target._queue.append((payload, self._local))
        target._queued += len(payload)
        target._gate.notify()
        return len(payload)

    def _has_room(self, size: int) -> bool:
        """Whether *size* more bytes fit (call holding our condition); refused once closed."""
        if self._closed:
            raise failure(
                ConnectionRefused, errno.ECONNREFUSED, "send_to", self._where(), "the endpoint was closed"
            )
        return self._queued + size <= self._capacity

    def _recv_op(self, max_bytes: int, flags: RecvFlags) -> Op[bytes]:
        """Receive one message; a longer one raises MessageTruncated with the part that fitted."""
        message = yield from self._recv_from_op(max_bytes, flags)
        if message.truncated:
            raise self._truncated("recv", message, max_bytes)
        return message.data

    def _truncated(self, op: str, message: Datagram, room: int) -> MessageTruncated:
        return MessageTruncated(
            f"{op} {self._where()}: a {message.size}-byte message did not fit the {room}-byte buffer; "
            "the first part is in .data; receive with a larger buffer",
            data=message.data,
            size=message.size,
            op=op,
            address=self._where(),
        )

    def _recv_into_op(self, buffer: Buffer, nbytes: int, flags: RecvFlags) -> Op[int]:
        """Receive one message into *buffer*; MessageTruncated if it does not fit."""
        check_size("nbytes", nbytes)
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if nbytes > len(view):
                raise ValueError(f"recv_into: nbytes {nbytes} is larger than the {len(view)}-byte buffer")
            room = nbytes or len(view)
            message = yield from self._recv_from_op(room, flags)
            view[: len(message.data)] = message.data  # the part that fits, as a socket stores it
            if message.truncated:
                raise self._truncated("recv_into", message, room)
            return len(message.data)

    def _recv_from_op(self, max_bytes: int, flags: RecvFlags) -> Op[Datagram]:
        """Receive one message and its sender; ``truncated`` says if it was cut."""
        if flags:
            check_flags(flags, RecvFlags, self._recv_allowed, self.network)
        check_size("max_bytes", max_bytes)
        yield (
            self._gate,
            lambda: bool(self._queue),
            Deadline(self._timeout),
            bool(flags & RecvFlags.DONTWAIT),
            "recv",
        )
        payload, sender = self._queue[0]
        if not flags & RecvFlags.PEEK:
            self._queue.popleft()
            self._queued -= len(payload)
            self._gate.notify()
        cut = len(payload) > max_bytes
        return Datagram(payload[:max_bytes], sender, truncated=cut, size=len(payload))

    def close(self) -> None:
        """Close the endpoint; its name is free again and queued messages are dropped."""
        ENDPOINTS.release(self._local.name, self)
        with self._gate.cond:
            self._closed = True
            self._queue.clear()
            self._queued = 0
            self._gate.notify()
