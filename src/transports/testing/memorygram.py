"""The in-memory datagram transport: ``memorygram://name`` (:apue:`17.2`, :apue:`16.5`).

Reliable and ordered like a Unix datagram socket, with named endpoints
(``bind``), a fixed peer (``connect``) and anonymous pairs; see
:mod:`transports.testing.memory` for what both memory transports promise.
The async twin is :class:`transports.testing.aio_memory.MemoryDatagramTransport`;
both are ``transports.testing._memgram`` driven two ways, and an endpoint of
either face can send to one of the other.
"""

from __future__ import annotations

from typing import Self

from transports._closing import CloseOnExit
from transports._compat import Buffer, WritableBuffer
from transports.addresses import Address, Datagram, NamedAddress
from transports.flags import RecvFlags, SendFlags
from transports.testing._memgram import DatagramCore
from transports.testing._memory import CAPACITY, run

__all__ = ["MemoryDatagramTransport"]


class MemoryDatagramTransport(DatagramCore, CloseOnExit):
    """An in-memory datagram endpoint, reliable and ordered like a Unix datagram socket (:apue:`17.2`).

    Messages wait in the receiver's queue of ``capacity`` bytes; a full
    queue makes senders wait. A message larger than ``capacity`` raises
    :class:`~transports.MessageTooLarge`.
    """

    @classmethod
    def bind(cls, name: str | None = None, *, capacity: int = CAPACITY) -> Self:
        """An endpoint named *name* (an anonymous one when None)."""
        return cls(name, capacity=capacity)

    @classmethod
    def connect(cls, name: str | NamedAddress, *, capacity: int = CAPACITY) -> Self:
        """An anonymous endpoint whose peer is fixed to *name*, which must exist."""
        return cls._connected(name, capacity)

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one message to the fixed peer."""
        return run(self, self._send_op(data, flags))

    def send_to(
        self, data: Buffer, address: Address | tuple[str, int] | str, flags: SendFlags = SendFlags.NONE
    ) -> int:
        """Send one message to the endpoint named *address*."""
        return run(self, self._send_to_op(data, address, flags))

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive one message; a longer one raises MessageTruncated with the part that fitted."""
        return run(self, self._recv_op(max_bytes, flags))

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive one message into *buffer*; MessageTruncated if it does not fit."""
        return run(self, self._recv_into_op(buffer, nbytes, flags))

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one message and its sender; ``truncated`` says if it was cut."""
        return run(self, self._recv_from_op(max_bytes, flags))
