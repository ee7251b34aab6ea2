"""The sync face of the TLS engine: :class:`TLSTransport` over any sync stream transport."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from transports._compat import Buffer
from transports._core.deadline import Deadline
from transports.errors import (
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnexpectedEOF,
    UnsupportedFlag,
)
from transports.flags import RecvFlags, SendFlags
from transports.protocols import StreamTransport
from transports.tls.engine import TLSEngine
from transports.tls.errors import TLSError, TLSHandshakeError, TLSHandshakeTimeout

if TYPE_CHECKING:
    from transports.addresses import Address
    from transports.kinds import Kind
    from transports.protocols import ShutdownHow, WritableBuffer

__all__ = ["TLSTransport"]

T = TypeVar("T")

#: How many ciphertext bytes one read of the plain stream asks for (a TLS record is at most 16 KiB plus framing).
_READ_SIZE = 17 * 1024
#: The most plaintext one ``send`` encrypts.
_SEND_CHUNK = 64 * 1024


class TLSTransport:
    """TLS over a connected byte stream: TCP, a Unix stream, the memory transport, a faulty one (:apue:`16.5`).

    It is a :class:`~transports.StreamTransport` with the same contract:
    ``send`` returns how many plaintext bytes went out as records, ``recv``
    returns ``b""`` only at the peer's ``close_notify``, and a plaintext EOF
    without it raises :class:`~transports.tls.TLSTruncated`. ``shutdown("write")``
    sends ``close_notify``. *timeout* is the plain stream's, spent once per
    operation however many reads and writes it takes.
    """

    __slots__ = ("_closed", "_engine", "_stream")

    def __init__(self, stream: StreamTransport, engine: TLSEngine) -> None:
        self._stream = stream
        self._engine = engine
        self._closed = False

    @classmethod
    def wrap(
        cls,
        stream: StreamTransport,
        context: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
    ) -> Self:
        """Run the handshake over *stream* and return the TLS transport; *stream* is closed on failure (:apue:`16.4`).

        Raises :class:`~transports.tls.TLSCertificateError` when the peer's
        certificate does not verify, :class:`~transports.tls.TLSHandshakeError`
        for any other failure and :class:`~transports.tls.TLSHandshakeTimeout`
        when the stream's timeout runs out first.
        """
        self = cls(stream, TLSEngine(context, server_side=server_side, server_hostname=server_hostname))
        try:
            self._handshake()
        except BaseException:
            stream.close()
            raise
        return self

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> Self:
        """Connect by TCP to *host*:*port* and run the handshake, both within *timeout* (:apue:`16.4`).

        *context* defaults to ``ssl.create_default_context()``: the peer's
        certificate is verified against the system's CAs and *server_hostname*
        (default *host*), and TLS 1.2 is the oldest version allowed.
        """
        from transports.tcp import TCPTransport

        if context is None:
            context = ssl.create_default_context()
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        deadline = Deadline(timeout)
        stream = TCPTransport.connect(host, port, timeout=timeout)
        stream.timeout = max(deadline.left() or 0.0, 0.001) if timeout else timeout
        self = cls.wrap(stream, context, server_hostname=host if server_hostname is None else server_hostname)
        stream.timeout = timeout
        return self

    # -- moving bytes -----------------------------------------------------------------------------

    def _call(self, deadline: Deadline, call: Callable[[], T]) -> T:
        """One call of the plain stream with what is left of *deadline* as its timeout."""
        if deadline.timeout:
            left = deadline.left()
            if left == 0:
                raise TransportTimeout("TLS operation timed out", op="recv", network="tls")
            self._stream.timeout = left
            try:
                return call()
            finally:
                self._stream.timeout = deadline.timeout
        return call()

    def _flush(self, deadline: Deadline) -> None:
        data = self._engine.data_to_send()
        if data:
            self._call(deadline, lambda: self._stream.send_all(data))

    def _pull(self, deadline: Deadline) -> bool:
        """Read ciphertext into the engine; ``False`` at the plain stream's EOF."""
        data = self._call(deadline, lambda: self._stream.recv(_READ_SIZE))
        if data:
            self._engine.receive_data(data)
            return True
        self._engine.receive_eof()
        return False

    def _handshake(self) -> None:
        deadline = Deadline(self._stream.timeout)
        try:
            while not self._engine.handshake():
                self._flush(deadline)
                if not self._pull(deadline):
                    self._engine.handshake()  # reports the EOF as the alert it is
                    raise TLSHandshakeError(
                        "TLS handshake failed: the peer closed the stream in the middle; "
                        "check that it speaks TLS on this port",
                        op="connect",
                    )
            self._flush(deadline)
        except TLSError:
            raise
        except TransportTimeout as err:
            raise TLSHandshakeTimeout(
                f"TLS handshake timed out after {deadline.timeout} s; the peer may not speak TLS",
                op="connect",
            ) from err

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        """Encrypt up to 64 KiB of *data*, send all its records, return how many plaintext bytes (:apue:`16.5`)."""
        self._check_open("send")
        _refuse(flags, SendFlags)
        view = memoryview(data).cast("B")[:_SEND_CHUNK]
        taken = self._engine.encrypt(view)
        self._flush(Deadline(self._stream.timeout))
        return taken

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        """Send all of *data* within one timeout; an error's ``bytes_sent`` counts plaintext (:apue:`16.5`)."""
        self._check_open("send_all")
        _refuse(flags, SendFlags)
        view = memoryview(data).cast("B")
        deadline = Deadline(self._stream.timeout)
        done = 0
        try:
            while done < len(view):
                taken = self._engine.encrypt(view[done : done + _SEND_CHUNK])
                self._flush(deadline)
                done += taken  # counted once all its records went out
        except TransportError as err:
            err.bytes_sent = done
            raise

    def _recv(self, max_bytes: int, deadline: Deadline) -> bytes:
        while True:
            data = self._engine.decrypt(max_bytes)
            self._flush(deadline)  # post-handshake messages (key updates) go out
            if data is not None:
                return data
            self._pull(deadline)

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Up to *max_bytes* of plaintext; ``b""`` only after the peer's ``close_notify`` (:apue:`16.5`)."""
        self._check_open("recv")
        _refuse(flags, RecvFlags)
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        if max_bytes == 0:
            return b""
        return self._recv(max_bytes, Deadline(self._stream.timeout))

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive plaintext into *buffer* (at most *nbytes*, or its size when 0); return the count (:apue:`16.5`)."""
        self._check_open("recv_into")
        _refuse(flags, RecvFlags)
        view = memoryview(buffer).cast("B")
        if nbytes < 0 or nbytes > len(view):
            raise ValueError(f"nbytes must be between 0 and the buffer's size {len(view)}, not {nbytes}")
        data = self.recv(nbytes or len(view)) if (nbytes or len(view)) else b""
        view[: len(data)] = data
        return len(data)

    def recv_exactly(self, n: int) -> bytes:
        """Exactly *n* plaintext bytes within one timeout, or :class:`~transports.UnexpectedEOF` (:apue:`14.7`)."""
        self._check_open("recv_exactly")
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        deadline = Deadline(self._stream.timeout)
        got = bytearray()
        try:
            while len(got) < n:
                data = self._recv(n - len(got), deadline)
                if not data:
                    raise UnexpectedEOF(
                        f"the TLS peer ended the stream after {len(got)} of {n} bytes",
                        partial=bytes(got),
                        expected=n,
                        op="recv_exactly",
                        network="tls",
                    )
                got += data
        except UnexpectedEOF:
            raise
        except TransportError as err:
            err.partial = bytes(got)
            raise
        return bytes(got)

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise _closed_error(op)

    # -- ending -----------------------------------------------------------------------------------

    def shutdown(self, how: ShutdownHow = "write") -> None:
        """``"write"``: send ``close_notify`` (the peer reads ``b""``); ``"read"``/``"both"``: also the plain stream's (:apue:`16.5`)."""
        self._check_open("shutdown")
        if how not in ("read", "write", "both"):
            raise ValueError(f"how must be 'read', 'write' or 'both', not {how!r}")
        if how != "read":
            self._engine.close_notify()
            self._flush(Deadline(self._stream.timeout))
        if how != "write":
            self._stream.shutdown(how)

    def unwrap(self) -> StreamTransport:
        """Exchange ``close_notify`` both ways and return the plain stream, still open (:apue:`16.5`).

        Raises :class:`~transports.tls.TLSError` when plaintext already
        followed the peer's ``close_notify`` (it would be lost).
        """
        self._check_open("unwrap")
        deadline = Deadline(self._stream.timeout)
        while not self._engine.unwrap():
            self._flush(deadline)
            if not self._pull(deadline):
                raise TLSHandshakeError(
                    "TLS unwrap failed: the stream ended before the peer's close_notify; "
                    "the peer must call unwrap() too",
                    op="shutdown",
                )
        self._flush(deadline)
        if self._engine.leftover():
            raise TLSError(
                "TLS unwrap: plaintext arrived with the peer's close_notify; it would be lost", op="shutdown"
            )
        self._closed = True
        return self._stream

    def close(self) -> None:
        """Send ``close_notify`` if not yet sent (best effort, within the timeout), then close the plain stream (:apue:`16.5`).

        The peer then reads a clean end of stream; if the notify cannot go
        out (the peer is gone, the buffer is full at timeout 0), the stream
        is closed anyway and the peer sees the truncation.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if not self._engine.notify_sent and self._engine.version() is not None:
                with contextlib.suppress(TransportError, OSError):
                    self._engine.close_notify()
                    self._flush(Deadline(self._stream.timeout))
        finally:
            self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- what the stream is ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` (or :meth:`unwrap`) was called."""
        return self._closed

    @property
    def timeout(self) -> float | None:
        """The plain stream's timeout, one budget per operation."""
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
    def stream(self) -> StreamTransport:
        """The plain stream the records travel on."""
        return self._stream

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


def _closed_error(op: str) -> TransportClosed:
    return TransportClosed(f"{op} on a closed TLS transport; open a new one", op=op, network="tls")


def _refuse(flags: SendFlags | RecvFlags, kind: type[SendFlags] | type[RecvFlags]) -> None:
    if not isinstance(flags, kind):
        raise TypeError(f"flags must be {kind.__name__}, not {type(flags).__name__}")
    if flags:
        raise UnsupportedFlag(
            f"TLS refuses {flags!r}: the flags act on the ciphertext stream, not on the plaintext; pass no flags",
            flag=flags,
            network="tls",
        )
