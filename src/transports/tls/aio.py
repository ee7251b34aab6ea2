"""The async face of TLS: :class:`TLSTransport` and :class:`TLSListener` for :mod:`transports.aio` (:apue:`16.5`, :apue:`16.8`, :apue:`14.4`).

The same operations as the sync :class:`transports.TLSTransport`, driven
with awaits: the steps themselves are written once, for both faces. Both
classes are also :mod:`transports.aio`'s, under the same names.
"""

from __future__ import annotations

from transports.tls.aio_listener import TLSListener
from transports.tls.aio_stream import TLSTransport

__all__ = ["TLSListener", "TLSTransport"]
