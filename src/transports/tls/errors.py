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


def tls_error(err: ssl.SSLError, *, host: str | None, during: str) -> TLSError:
    """The :class:`TLSError` for an :class:`ssl.SSLError` raised *during* an operation (:apue:`16.5`)."""
    reason = getattr(err, "reason", None)
    where = f" with {host}" if host else ""
    result: TLSError
    if isinstance(err, ssl.SSLCertVerificationError):
        message = str(getattr(err, "verify_message", None) or reason or err)
        cert = TLSCertificateError(
            f"TLS {during}{where}: the certificate of {host or 'the peer'} did not verify: {message}; "
            "check the host name, or trust its CA with context.load_verify_locations(cafile)",
            op="connect",
        )
        cert.host, cert.verify_message = host, message
        result = cert
    elif isinstance(err, ssl.SSLEOFError):
        result = TLSTruncated(
            f"TLS {during}{where}: the stream ended without the peer's close_notify, "
            "so the data may be truncated; the peer must call shutdown('write') before closing",
        )
    else:
        alert = reason or str(err)
        result = TLSHandshakeError(
            f"TLS {during}{where} failed: {alert}; check that both ends share a protocol version, "
            "a cipher and trusted certificates",
        )
    result.reason = reason
    return result
