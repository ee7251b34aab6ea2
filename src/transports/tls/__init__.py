"""TLS on the stream interface: a sans-IO engine and its sync face (:apue:`16.5`).

:class:`TLSEngine` holds a session's state and does no I/O;
:class:`TLSTransport` runs it over any sync
:class:`~transports.StreamTransport` and :class:`TLSListener` hands out
the connections of any listener as TLS transports. The async face is
:mod:`transports.tls.aio`.
"""

from __future__ import annotations

from transports.tls._base import default_context
from transports.tls.engine import TLSEngine
from transports.tls.errors import (
    TLSCertificateError,
    TLSError,
    TLSHandshakeError,
    TLSHandshakeTimeout,
    TLSTruncated,
)
from transports.tls.listener import TLSListener
from transports.tls.sync import TLSTransport

__all__ = [
    "TLSCertificateError",
    "TLSEngine",
    "TLSError",
    "TLSHandshakeError",
    "TLSHandshakeTimeout",
    "TLSListener",
    "TLSTransport",
    "TLSTruncated",
    "default_context",
]
