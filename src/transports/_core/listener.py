"""Listeners: a passive socket that hands out transports (:apue:`16.4`)."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from transports._core.owner import SocketOwner, pid_global, prepare_socket
from transports._core.transport import AddrT, SocketTransport
from transports.addresses import Address
from transports.errors import PeerRejected, TransportClosed, translate_os_error

#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())

TransportT = TypeVar("TransportT", bound="SocketTransport[Any]")


class SocketListener(SocketOwner, Generic[TransportT, AddrT]):
    """Base of the listeners: a passive socket that hands out transports (:apue:`16.4`)."""

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
        """Wait for the next connection (:apue:`16.4`).

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
