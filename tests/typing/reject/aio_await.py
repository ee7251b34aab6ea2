"""A coroutine used as its value, or an await on a call that never waits, is a type error (:apue:`16.8`).

On :mod:`transports.aio` whatever waits for the peer is a coroutine: its
value is only there after ``await``. Whatever never waits (``close``,
``shutdown``, ``socketpair``, ``fileno``) is a plain call that cannot be awaited.
"""

from __future__ import annotations

from transports import aio


async def missing_await(
    t: aio.TCPTransport, s: aio.StreamTransport, d: aio.DatagramTransport, listener: aio.TCPListener
) -> None:
    data: bytes = t.recv(10)  # E: assignment
    count: int = t.send(b"x")  # E: assignment
    exact: bytes = s.recv_exactly(4)  # E: assignment
    conn: aio.TCPTransport = listener.accept()  # E: assignment
    transport: aio.Transport = aio.connect("tcp://127.0.0.1:80")  # E: assignment
    t.send_all(b"x")  # E: unused-coroutine
    listener.accept()  # E: unused-coroutine
    aio.bind("udp://127.0.0.1:0")  # E: unused-coroutine
    len(s.recv_exactly(4))  # E: arg-type
    t.recv(10).decode()  # E: attr-defined
    d.recv_from(100).data  # E: attr-defined
    aio.TCPTransport.connect("127.0.0.1", 80).send_all(b"x")  # E: attr-defined
    aio.UDPTransport.bind("127.0.0.1", 0).local_address  # E: attr-defined


async def needless_await(t: aio.TCPTransport, s: aio.StreamTransport) -> None:
    await t.close()  # E: misc, func-returns-value
    await s.shutdown("write")  # E: misc, func-returns-value
    await t.fileno()  # E: misc
    await aio.socketpair()  # E: misc
    await aio.UnixStreamTransport.pair()  # E: misc
