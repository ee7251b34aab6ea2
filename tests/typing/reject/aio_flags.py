"""Flags of the wrong direction are type errors on the async face too (:apue:`16.5`, :apue:`16.8`)."""

from __future__ import annotations

from transports import RecvFlags, SendFlags, aio


async def wrong_direction(
    t: aio.Transport,
    s: aio.StreamTransport,
    d: aio.DatagramTransport,
    f: aio.FdPassing,
    buffer: bytearray,
) -> None:
    await t.send(b"x", RecvFlags.PEEK)  # E: arg-type
    await t.recv(10, SendFlags.MORE)  # E: arg-type
    await t.recv_into(buffer, 0, SendFlags.DONTWAIT)  # E: arg-type
    await s.send_all(b"x", RecvFlags.WAITALL)  # E: arg-type
    await d.send_to(b"x", ("127.0.0.1", 53), RecvFlags.PEEK)  # E: arg-type
    await d.recv_from(100, SendFlags.OOB)  # E: arg-type
    await f.send_fds(b"x", [0], RecvFlags.PEEK)  # E: arg-type
    await f.recv_fds(100, 1, SendFlags.MORE)  # E: arg-type


async def wrong_values(t: aio.Transport, s: aio.StreamTransport) -> None:
    await t.send(b"x", 0x40)  # E: arg-type
    await t.recv(10, 0)  # E: arg-type
    await t.send("text")  # E: arg-type
    await s.recv_exactly(4, RecvFlags.WAITALL)  # E: call-arg
