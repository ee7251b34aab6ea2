"""Pins the static types of TLS on both faces: mypy must accept every line here as written.

A :class:`~transports.TLSTransport` is a :class:`~transports.StreamTransport`
(and ``SendfileCapable``: ``sendfile`` copies through a buffer), its async
twin one of :mod:`transports.aio`; a TLS listener is a listener of TLS
transports. ``tests/test_typing.py`` runs mypy on this file; nothing runs
at import (the checks are functions that are never called).
"""

from __future__ import annotations

import ssl
from typing import Any, assert_type

import transports
from transports import InetAddress, StreamTransport, TLSListener, TLSTransport, aio
from transports.tls import TLSEngine, TLSError


def sync_face(context: ssl.SSLContext, server: ssl.SSLContext, plain: transports.TCPTransport) -> None:
    tls = TLSTransport.connect("example.org", 443, context=context, timeout=5.0)
    assert_type(tls, TLSTransport)
    stream: StreamTransport = tls
    files: transports.SendfileCapable = tls
    assert_type(tls.recv(10), bytes)
    assert_type(tls.recv_exactly(10), bytes)
    assert_type(tls.send(b"x"), int)
    assert_type(tls.sendfile("data.bin", fallback=True), int)
    assert_type(tls.version(), str | None)
    assert_type(tls.selected_alpn_protocol(), str | None)
    assert_type(tls.cipher(), tuple[str, str, int] | None)
    assert_type(tls.session, ssl.SSLSession | None)
    assert_type(tls.unwrap(), StreamTransport)
    wrapped = TLSTransport.wrap(plain, context, server_hostname="example.org")
    assert_type(wrapped, TLSTransport)
    lazy = TLSTransport(plain, TLSEngine(server, server_side=True))
    lazy.do_handshake()
    listener = TLSListener.listen("127.0.0.1", 0, context=server)
    assert_type(listener, TLSListener[InetAddress])
    assert_type(listener.address.port, int)
    assert_type(listener.accept(), TLSTransport)
    for conn in listener:
        assert_type(conn, TLSTransport)
    accepting: transports.Listener[TLSTransport, InetAddress] = listener
    over_unix = TLSListener(transports.UnixListener.listen("/tmp/x.sock"), server)
    assert_type(over_unix.accept(), TLSTransport)
    try:
        tls.send_all(b"x")
    except TLSError as err:
        assert_type(err.reason, str | None)
    del stream, files, accepting


async def async_face(context: ssl.SSLContext, server: ssl.SSLContext, plain: aio.TCPTransport) -> None:
    tls = await aio.TLSTransport.connect("example.org", 443, context=context)
    assert_type(tls, aio.TLSTransport)
    stream: aio.StreamTransport = tls
    files: aio.SendfileCapable = tls
    assert_type(await tls.recv(10), bytes)
    assert_type(await tls.recv_exactly(10), bytes)
    assert_type(tls.last_bytes_sent, int | None)
    tls.shutdown("write")
    assert_type(await tls.unwrap(), aio.StreamTransport)
    wrapped = await aio.TLSTransport.wrap(plain, context, server_side=False, server_hostname="example.org")
    assert_type(wrapped, aio.TLSTransport)
    listener = await aio.TLSListener.listen("127.0.0.1", 0, context=server)
    assert_type(listener, aio.TLSListener[InetAddress])
    assert_type(await listener.accept(), aio.TLSTransport)
    async for conn in listener:
        assert_type(conn, aio.TLSTransport)

    async def handler(conn: aio.TLSTransport) -> None:
        await conn.send_all(await conn.recv(100))

    served = await listener.serve(handler, grace=1.0)
    assert_type(served.accepted, int)
    accepting: aio.Listener[aio.TLSTransport, InetAddress] = listener
    del stream, files, accepting


def untyped(value: Any) -> None:
    del value
