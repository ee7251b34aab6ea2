"""What a socket is on either face, whether its calls wait or not (:apue:`16.2`, :apue:`16.8`).

:mod:`transports.protocols` and :mod:`transports.aio.protocols` describe the
same objects; only the calls that wait differ (plain methods on one face,
coroutines on the other). The members that never wait -- ``closed``,
``timeout``, ``fileno``, ``close``, and for a transport ``kind`` and its
addresses -- are declared once here, in :class:`Handle` and :class:`Endpoint`,
and the protocols of both faces inherit them.
"""

from __future__ import annotations

# typing_extensions' Protocol has Python 3.12's isinstance(): it looks members
# up statically instead of calling properties, so checking a closed transport
# does not raise and checking a live one makes no getsockname() calls.
from typing_extensions import Protocol, runtime_checkable

from transports.addresses import Address
from transports.kinds import Kind

__all__ = ["Endpoint", "Handle", "HasFileno"]


class HasFileno(Protocol):
    """Anything with a file descriptor: what ``send_fds`` accepts besides an int (:apue:`17.4`)."""

    def fileno(self) -> int: ...


@runtime_checkable
class Handle(Protocol):
    """One socket seen as a descriptor, on either face: what never waits (:apue:`16.2`)."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        ...

    @property
    def timeout(self) -> float | None:
        """Seconds one call may wait (``accept``, for a listener); ``None`` waits forever, ``0`` never waits."""
        ...

    @timeout.setter
    def timeout(self, value: float | None) -> None: ...

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        ...

    def close(self) -> None:
        """Close the socket; closing again does nothing, and a call waiting on it wakes up."""
        ...


@runtime_checkable
class Endpoint(Handle, Protocol):
    """A transport's end of a conversation, on either face: its kind and both addresses (:apue:`16.2`, :apue:`16.3.4`)."""

    @property
    def kind(self) -> Kind:
        """Stream, datagram or seqpacket."""
        ...

    @property
    def local_address(self) -> Address:
        """The address this end is bound to (``getsockname``)."""
        ...

    @property
    def remote_address(self) -> Address | None:
        """The peer's address (``getpeername``), or ``None`` when not connected."""
        ...
