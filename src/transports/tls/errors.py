"""The errors of a TLS session: each a :class:`~transports.TransportError`."""

from __future__ import annotations

import ssl

from transports.errors import TransportError, TransportTimeout

__all__ = [
    "TLSCertificateError",
    "TLSError",
    "TLSHandshakeError",
    "TLSHandshakeTimeout",
    "TLSTruncated",
    "tls_error",
]


class TLSError(TransportError):
    """A TLS session failed: the handshake, a record, or its end (:apue:`16.5`).

    Attributes:
        reason: OpenSSL's short reason (``"CERTIFICATE_VERIFY_FAILED"``,
            ``"TLSV1_ALERT_UNKNOWN_CA"`` ...), or ``None``.
    """

    reason: str | None = None


class TLSCertificateError(TLSError):
    """The peer's certificate did not verify: an unknown CA, a wrong host name, an expired one (:apue:`16.4`).

    Attributes:
        host: the name the certificate was checked against, or ``None``.
        verify_message: OpenSSL's verdict (``"unable to get local issuer certificate"`` ...).
    """

    host: str | None = None
    verify_message: str | None = None


class TLSHandshakeError(TLSError):
    """The handshake failed; the message names the alert or the reason (:apue:`16.4`)."""


class TLSHandshakeTimeout(TLSError, TransportTimeout):
    """The handshake did not finish within the timeout (:apue:`16.4`)."""


class TLSTruncated(TLSError):
    """The stream ended without the peer's ``close_notify``: the data may have been cut short (:apue:`16.5`).

    A plaintext EOF is not a clean end of a TLS stream; it is reported, never a silent ``b""``.
    """


#: What to do about the alerts and reasons met most, by OpenSSL's reason name.
_HINTS = {
    "TLSV1_ALERT_UNKNOWN_CA": "the peer does not trust the CA of our certificate; give it that CA",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the peer refused our certificate; check that it is valid and for this use",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the peer says our certificate has expired; renew it",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the peer asks for a client certificate; load one with "
    "context.load_cert_chain(cert, key)",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the client sent no certificate, and this server requires one",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the two ends allow no common TLS version; check minimum_version on both",
    "UNSUPPORTED_PROTOCOL": "the two ends allow no common TLS version; check minimum_version on both",
    "NO_SHARED_CIPHER": "the two ends allow no common cipher; check set_ciphers() on both",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the peer could not agree on the handshake's parameters "
    "(versions, ciphers, certificate types)",
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": "no ALPN protocol is on both lists; check set_alpn_protocols() on both",
    "NO_APPLICATION_PROTOCOL": "no ALPN protocol is on both lists; check set_alpn_protocols() on both",
    "WRONG_VERSION_NUMBER": "the peer does not speak TLS here (plaintext, or another protocol on this port)",
    "HTTP_REQUEST": "the peer sent plain HTTP to a TLS port; it should connect with https:// or tls://",
}


def _verify_hint(message: str) -> str:
    """What to do about a certificate that did not verify, by OpenSSL's verdict."""
    if "expired" in message or "not yet valid" in message:
        return "renew the certificate, or check the clocks of both machines"
    if "mismatch" in message or "match" in message:
        return "connect by the name the certificate is for, or pass that name as server_hostname="
    if "self-signed" in message or "self signed" in message or "issuer" in message:
        return "trust the CA that signed it with context.load_verify_locations(cafile)"
    return "check the host name, or trust its CA with context.load_verify_locations(cafile)"


def tls_error(err: ssl.SSLError, *, host: str | None, during: str, peer: str | None = None) -> TLSError:
    """The :class:`TLSError` for an :class:`ssl.SSLError` raised *during* an operation (:apue:`16.5`).

    *host* is the name the peer's certificate is checked against, *peer*
    its address; the message names both when known.
    """
    reason = getattr(err, "reason", None)
    where = f" with {host}" if host else ""
    if peer and peer != host:
        where += f" at {peer}"
    result: TLSError
    if isinstance(err, ssl.SSLCertVerificationError):
        message = str(getattr(err, "verify_message", None) or reason or err)
        cert = TLSCertificateError(
            f"TLS {during}{where}: the certificate of {host or 'the peer'} did not verify: {message}; "
            f"{_verify_hint(message)}",
            op="connect",
        )
        cert.host, cert.verify_message = host, message
        result = cert
    elif isinstance(err, ssl.SSLEOFError) and during == "handshake":
        result = TLSHandshakeError(
            f"TLS handshake{where} failed: the peer closed the connection in the middle of it; "
            "it may have refused our certificate, or it does not speak TLS on this port",
        )
    elif isinstance(err, ssl.SSLEOFError):
        result = TLSTruncated(
            f"TLS {during}{where}: the stream ended without the peer's close_notify, "
            "so the data may be truncated; the peer must call shutdown('write') before closing",
        )
    else:
        alert = reason or str(err)
        hint = _HINTS.get(
            reason or "", "check that both ends share a protocol version, a cipher and trusted certificates"
        )
        result = TLSHandshakeError(f"TLS {during}{where} failed: {alert}; {hint}")
    result.reason = reason
    result.address = peer
    return result
