"""A sans-IO TLS engine: ``ssl.SSLObject`` between two ``ssl.MemoryBIO`` buffers.

The engine owns no socket and never waits. Bytes from the network go in with
:meth:`TLSEngine.receive_data` (and the network's EOF with
:meth:`TLSEngine.receive_eof`); bytes for the network come out of
:meth:`TLSEngine.data_to_send`. Each step that needs more from the peer says so
by its return value (``False`` or ``None``) instead of raising, and a face (the
sync :class:`~transports.tls.TLSTransport`) does the moving and the waiting.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from transports._compat import Buffer
from transports.tls.errors import tls_error

__all__ = ["TLSEngine"]

#: The most plaintext one :meth:`TLSEngine.decrypt` returns: OpenSSL reserves the size asked for.
_MOST = 256 * 1024


class TLSEngine:
    """One TLS session's state, fed and drained by a face that does the I/O (:apue:`16.5`).

    *context* sets the rules (verification, versions, ALPN); *server_hostname*
    is the name a client checks the certificate against and sends as SNI.
    """

    __slots__ = ("_incoming", "_obj", "_outgoing", "closed_by_peer", "host", "notify_sent")

    def __init__(
        self, context: ssl.SSLContext, *, server_side: bool = False, server_hostname: str | None = None
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_side, server_hostname)
        self.host = server_hostname
        #: Whether the peer's ``close_notify`` arrived (a clean end of the stream, :apue:`14.7`).
        self.closed_by_peer = False
        #: Whether ours went out.
        self.notify_sent = False

    # -- the network side ------------------------------------------------------------------------

    def receive_data(self, data: Buffer) -> None:
        """Hand the engine bytes that came from the network."""
        self._incoming.write(data)

    def receive_eof(self) -> None:
        """Tell the engine the network stream ended (a plaintext EOF)."""
        self._incoming.write_eof()

    def data_to_send(self) -> bytes:
        """The bytes waiting for the network (``b""`` when none); taken out of the engine."""
        return self._outgoing.read()

    def leftover(self) -> bytes:
        """The received bytes the engine has not used (after :meth:`unwrap`: plaintext)."""
        return self._incoming.read()

    # -- the session -----------------------------------------------------------------------------

    def handshake(self) -> bool:
        """Advance the handshake: ``True`` once done, ``False`` while it needs the peer's bytes.

        Raises :class:`~transports.tls.TLSError` (a certificate that did not
        verify, an alert from the peer, an EOF in the middle).
        """
        return self._step(self._obj.do_handshake, "handshake")

    def _step(self, call: Callable[[], object], during: str) -> bool:
        """Run one OpenSSL step: ``True`` when it finished, ``False`` when it needs the peer's bytes."""
        try:
            call()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except ssl.SSLError as err:
            raise tls_error(err, host=self.host, during=during) from err
        return True

    def encrypt(self, data: Buffer) -> int:
        """Turn plaintext into records waiting in :meth:`data_to_send`; return how much was taken."""
        try:
            return self._obj.write(data)
        except ssl.SSLError as err:
            raise tls_error(err, host=self.host, during="send") from err

    def decrypt(self, max_bytes: int) -> bytes | None:
        """Up to *max_bytes* of plaintext; ``None``: more bytes are needed from the peer.

        ``b""`` means the peer's ``close_notify`` arrived (a clean end); an EOF
        without it raises :class:`~transports.tls.TLSTruncated`.
        """
        if self.closed_by_peer:
            return b""
        try:
            return self._obj.read(min(max_bytes, _MOST))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except ssl.SSLZeroReturnError:
            self.closed_by_peer = True
            return b""
        except ssl.SSLError as err:
            raise tls_error(err, host=self.host, during="recv") from err

    def close_notify(self) -> None:
        """Queue our ``close_notify`` (once): the peer then reads a clean end of the stream."""
        if self.notify_sent:
            return
        self.notify_sent = True
        self._step(self._obj.unwrap, "shutdown")  # False: ours went out, the peer's has not come yet

    def unwrap(self) -> bool:
        """Finish the closing exchange: ``True`` once both ``close_notify`` went, ``False`` while waiting."""
        self.notify_sent = True
        return self._step(self._obj.unwrap, "unwrap")

    # -- what was agreed ------------------------------------------------------------------------

    def selected_alpn_protocol(self) -> str | None:
        """The application protocol both ends chose by ALPN, or ``None``."""
        return self._obj.selected_alpn_protocol()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate (a dict, or DER bytes with *binary_form*), or ``None``."""
        return self._obj.getpeercert(binary_form)

    def cipher(self) -> tuple[str, str, int] | None:
        """The cipher in use: (name, protocol, secret bits), or ``None`` before the handshake."""
        return self._obj.cipher()

    def version(self) -> str | None:
        """The protocol version agreed (``"TLSv1.3"`` ...), or ``None`` before the handshake."""
        return self._obj.version()
