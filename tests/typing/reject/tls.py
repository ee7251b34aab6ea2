"""Misuses of TLS that mypy must refuse (:apue:`16.5`).

The TLS transports are stream transports of one face each: a sync one is
not an async one, a TLS listener needs a server context, and TLS wraps
streams, not datagrams.
"""

from __future__ import annotations

import ssl

import transports
from transports import TLSListener, TLSTransport, aio


async def misuses(
    context: ssl.SSLContext,
    tls: TLSTransport,
    atls: aio.TLSTransport,
    udp: transports.UDPTransport,
    plain: transports.TCPTransport,
) -> None:
    stream: aio.StreamTransport = tls  # E: assignment
    sync_stream: transports.StreamTransport = atls  # E: assignment
    TLSTransport.wrap(udp, context)  # E: arg-type
    TLSTransport.wrap(plain, "server.pem")  # E: arg-type
    TLSListener.listen("127.0.0.1", 0)  # E: call-arg
    await tls.recv(10)  # E: misc
    atls.recv(10).decode()  # E: attr-defined
    TLSTransport.connect("example.org", "443")  # E: arg-type
    await aio.TLSTransport.wrap(plain, context)  # E: arg-type
