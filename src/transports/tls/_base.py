"""What both faces of a TLS transport answer without waiting: the plain stream's facts and what was agreed.

:class:`TLSBase` holds the plain stream and the engine; the sync
:class:`~transports.TLSTransport` and the async
:class:`~transports.aio.TLSTransport` add the calls that wait.
"""

from __future__ import annotations

import contextlib
import select
import ssl
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from transports._handles import Endpoint
from transports.addresses import Address
from transports.errors import TransportClosed, TransportTimeout, UnsupportedFlag, WouldBlock
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.tls.engine import TLSEngine

__all__ = [
    "StreamT",
    "TLSBase",
    "at_once",
    "check_how",
    "closed_error",
    "default_context",
    "refuse_flags",
    "sent_after_notify",
    "timed_out",
    "unread_waiting",
]

StreamT = TypeVar("StreamT", bound="Endpoint")
T = TypeVar("T")


def default_context() -> ssl.SSLContext:
    """The client context used when none is given: the system's CAs, host names checked, TLS 1.2 at least (:apue:`16.4`)."""
    context = ssl.create_default_context()
    context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
    return context


class TLSBase(Generic[StreamT]):
    """A TLS session over *stream*, its handshake still to run; the members that never wait (:apue:`16.5`)."""

    __slots__ = ("_closed", "_engine", "_ready", "_stream")

    def __init__(self, stream: StreamT, engine: TLSEngine) -> None:
        self._stream = stream
        self._engine = engine
        if engine.peer is None:
            with contextlib.suppress(OSError):  # a stream that cannot tell is named by the host alone
                remote = stream.remote_address
                if remote is not None and not getattr(remote, "unnamed", False):
                    engine.peer = str(remote)
        self._closed = False
        #: Whether the handshake is done; until then the first call that moves bytes runs it.
        self._ready = False

    # -- what the stream is ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` (or ``unwrap``) was called."""
        return self._closed

    @property
    def timeout(self) -> float | None:
        """The plain stream's timeout; one budget per operation, however many reads and writes it takes."""
        return self._stream.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._stream.timeout = value

    @property
    def kind(self) -> Kind:
        """The plain stream's kind."""
        return self._stream.kind

    @property
    def local_address(self) -> Address:
        """The plain stream's local address."""
        return self._stream.local_address

    @property
    def remote_address(self) -> Address | None:
        """The plain stream's peer address."""
        return self._stream.remote_address

    @property
    def stream(self) -> StreamT:
        """The plain stream the records travel on."""
        return self._stream

    @property
    def handshake_done(self) -> bool:
        """Whether the handshake has run (a transport from a listener runs it at its first call)."""
        return self._ready

    @property
    def session(self) -> ssl.SSLSession | None:
        """The TLS session, to pass as ``session=`` to a later connection to the same server."""
        return self._engine.session()

    @property
    def session_reused(self) -> bool:
        """Whether this connection resumed an earlier session."""
        return self._engine.session_reused()

    def fileno(self) -> int:
        """The plain stream's descriptor (readable does not mean plaintext is ready) (:apue:`16.2`)."""
        return self._stream.fileno()

    # -- what was agreed ------------------------------------------------------------------------

    def selected_alpn_protocol(self) -> str | None:
        """The protocol chosen by ALPN, or ``None`` (:apue:`16.4`)."""
        return self._engine.selected_alpn_protocol()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate as ``ssl.SSLSocket.getpeercert`` gives it (:apue:`16.4`)."""
        return self._engine.getpeercert(binary_form)

    def cipher(self) -> tuple[str, str, int] | None:
        """The cipher in use: (name, protocol, secret bits) (:apue:`16.4`)."""
        return self._engine.cipher()

    def version(self) -> str | None:
        """The TLS version agreed (``"TLSv1.3"`` ...) (:apue:`16.4`)."""
        return self._engine.version()

    def __repr__(self) -> str:
        state = "closed" if self._closed else (self._engine.version() or "handshake pending")
        return f"<{type(self).__qualname__} {state} over {self._stream!r}>"

    # -- checks before a call -------------------------------------------------------------------

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise closed_error(op)

    def _check_send(self, op: str, flags: SendFlags) -> None:
        if self._closed:
            raise closed_error(op)
        refuse_flags(flags, SendFlags)
        if self._engine.notify_sent:
            raise sent_after_notify(op)


def check_how(how: str) -> None:
    """Refuse a ``shutdown`` direction that is not ``"read"``, ``"write"`` or ``"both"``."""
    if how not in ("read", "write", "both"):
        raise ValueError(f"how must be 'read', 'write' or 'both', not {how!r}")


def closed_error(op: str) -> TransportClosed:
    """The error of *op* on a closed TLS transport (:apue:`16.2`)."""
    return TransportClosed(f"{op} on a closed TLS transport; open a new one", op=op, network="tls")


def sent_after_notify(op: str) -> TransportClosed:
    """The error of a send after our ``close_notify`` went (``shutdown("write")``) (:apue:`16.5`)."""
    return TransportClosed(
        f"{op} after shutdown('write') on a TLS transport: close_notify has ended our side of the stream",
        op=op,
        network="tls",
    )


def refuse_flags(flags: SendFlags | RecvFlags, kind: type[SendFlags] | type[RecvFlags]) -> None:
    """Refuse every flag before any call: MSG_* act on the ciphertext stream, not on the plaintext (:apue:`16.5`)."""
    if not isinstance(flags, kind):
        raise TypeError(f"flags must be {kind.__name__}, not {type(flags).__name__}")
    if flags:
        raise UnsupportedFlag(
            f"TLS refuses {flags!r}: the flags act on the ciphertext stream, not on the plaintext; pass no flags",
            flag=flags,
            network="tls",
        )


def timed_out(op: str, timeout: float) -> TransportTimeout:
    """The error of an async TLS *op* that ran out of *timeout* seconds (:apue:`14.4`)."""
    return TransportTimeout(
        f"TLS {op} timed out after {timeout} s; raise the timeout or check the peer", op=op, network="tls"
    )


def at_once(call: Coroutine[Any, Any, T]) -> T:
    """Run *call*, a coroutine that never waits (a ``MSG_DONTWAIT`` call), to its end from a plain method.

    Raises :class:`~transports.WouldBlock` if it would have waited after all.
    """
    try:
        call.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    call.close()
    raise WouldBlock("the call would have waited", op="close", network="tls")


def unread_waiting(stream: Endpoint) -> bool:
    """Whether bytes wait unread in *stream*'s socket, asked of the kernel without a receive (:apue:`14.4`).

    ``close`` reads them before it closes (a socket closed with unread
    bytes ends in a reset); a receive that finds none would cost a whole
    error. A stream with no descriptor (the in-memory one) may have some.
    """
    try:
        fd = stream.fileno()
    except OSError:
        return True
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
