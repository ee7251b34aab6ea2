"""A sans-IO TLS engine: ``ssl.SSLObject`` between two ``ssl.MemoryBIO`` buffers.

The engine owns no socket and never waits. Bytes from the network go in with
:meth:`TLSEngine.receive_data` (and the network's EOF with
:meth:`TLSEngine.receive_eof`); bytes for the network come out of
:meth:`TLSEngine.data_to_send`. Each step that needs more from the peer says so
by its return value (``False`` or ``None``) instead of raising, and a face (the
sync :class:`~transports.TLSTransport`) does the moving and the waiting.
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

    __slots__ = ("_held", "_incoming", "_obj", "_outgoing", "closed_by_peer", "host", "notify_sent", "peer")

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> None:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(
                f"TLS needs an ssl.SSLContext, not {context!r}: ssl.create_default_context() for a client, "
                "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) and load_cert_chain() for a server"
            )
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_side, server_hostname, session)
        self.host = server_hostname
        #: Where the peer is (its address as text), for error messages; set by the face that knows.
        self.peer: str | None = None
        #: Plaintext decrypted early, before our close_notify, and not yet handed out.
        self._held = bytearray()
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

    def wants_flush(self) -> bool:
        """Whether bytes wait in :meth:`data_to_send`."""
        return self._outgoing.pending > 0

    def leftover(self) -> bytes:
        """The received bytes the engine has not used (after :meth:`unwrap`: plaintext)."""
        held, self._held = bytes(self._held), bytearray()
        return held + self._incoming.read()

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
            raise tls_error(err, host=self.host, peer=self.peer, during=during) from err
        return True

    def encrypt(self, data: Buffer) -> int:
        """Turn plaintext into records waiting in :meth:`data_to_send`; return how much was taken."""
        try:
            return self._obj.write(data)
        except ssl.SSLError as err:
            raise tls_error(err, host=self.host, peer=self.peer, during="send") from err

    def decrypt(self, max_bytes: int) -> bytes | None:
        """Up to *max_bytes* of plaintext; ``None``: more bytes are needed from the peer.

        ``b""`` means the peer's ``close_notify`` arrived (a clean end); an EOF
        without it raises :class:`~transports.tls.TLSTruncated`.
        """
        if self._held:
            data = bytes(self._held[:max_bytes])
            del self._held[:max_bytes]
            return data
        if self.closed_by_peer:
            return b""
        if not (self._incoming.pending or self._incoming.eof or self._obj.pending()):
            return None  # nothing to decrypt: said without the cost of OpenSSL's want-read exception
        try:
            data = self._obj.read(min(max_bytes, _MOST))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except ssl.SSLZeroReturnError:
            self.closed_by_peer = True
            return b""
        except ssl.SSLError as err:
            raise tls_error(err, host=self.host, peer=self.peer, during="recv") from err
        if not data:  # Python reports the peer's close_notify as b"" once it has seen it
            self.closed_by_peer = True
            return data
        want = min(max_bytes, _MOST)
        if len(data) < want and (self._incoming.pending or self._obj.pending()):
            return self._more(data, want)
        return data

    def _more(self, first: bytes, want: int) -> bytes:
        """*first*, and the records after it already received, up to *want* bytes: one call, not one per record.

        A failure on a later record stops here; the next :meth:`decrypt`
        meets it again and raises it.
        """
        parts = [first]
        total = len(first)
        while total < want and (self._incoming.pending or self._obj.pending()):
            try:
                more = self._obj.read(want - total)
            except ssl.SSLZeroReturnError:
                self.closed_by_peer = True
                break
            except ssl.SSLError:
                break
            if not more:
                self.closed_by_peer = True
                break
            parts.append(more)
            total += len(more)
        return b"".join(parts)

    def close_notify(self) -> None:
        """Queue our ``close_notify`` (once): the peer then reads a clean end of the stream."""
        if self.notify_sent:
            return
        self.notify_sent = True
        self._hold_received()
        self._step(self._obj.unwrap, "shutdown")  # False: ours went out, the peer's has not come yet

    def _hold_received(self) -> None:
        """Decrypt the records already received into :attr:`_held`.

        ``SSLObject.unwrap`` reads what waits in the incoming buffer, and a
        data record there would fail it (``APPLICATION_DATA_AFTER_CLOSE_NOTIFY``):
        the peer sent it before our notify, so it is still ours to read.
        """
        while not self.closed_by_peer and (self._incoming.pending or self._obj.pending()):
            try:
                data = self._obj.read(_MOST)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return  # a record not complete yet
            except ssl.SSLZeroReturnError:
                data = b""
            except ssl.SSLError as err:
                raise tls_error(err, host=self.host, peer=self.peer, during="shutdown") from err
            if not data:
                self.closed_by_peer = True
                return
            self._held += data

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

    def session(self) -> ssl.SSLSession | None:
        """The session, to resume in a later connection (TLS 1.3: once the peer's ticket has been read)."""
        return self._obj.session

    def session_reused(self) -> bool:
        """Whether this connection resumed an earlier session."""
        return self._obj.session_reused

    def version(self) -> str | None:
        """The protocol version agreed (``"TLSv1.3"`` ...), or ``None`` before the handshake."""
        return self._obj.version()
