"""Misused async framed streams are type errors: the right face, awaited, over a byte stream (:apue:`16.5`, :apue:`16.8`)."""

from __future__ import annotations

import transports
from transports import aio


async def wrong_face(sync_tcp: transports.TCPTransport, tcp: aio.TCPTransport) -> None:
    aio.MessageStream(sync_tcp)  # E: arg-type
    aio.LineStream(sync_tcp)  # E: arg-type
    transports.MessageStream(tcp)  # E: arg-type
    transports.LineStream(tcp)  # E: arg-type


async def wrong_kind(udp: aio.UDPTransport, seqpacket: aio.UnixSeqpacketTransport) -> None:
    aio.MessageStream(udp)  # E: arg-type
    aio.LineStream(seqpacket)  # E: arg-type


async def missing_await(stream: aio.MessageStream, lines: aio.LineStream) -> None:
    message: bytes | None = stream.recv_message()  # E: assignment
    stream.send_message(b"x")  # E: unused-coroutine
    len(lines.recv_message())  # E: arg-type


async def unchecked_end(stream: aio.MessageStream) -> None:
    message: bytes = await stream.recv_message()  # E: assignment
    (await stream.recv_message()).decode()  # E: union-attr


async def sync_statements(stream: aio.MessageStream) -> None:
    for _message in stream:  # E: attr-defined
        pass
    with stream:  # E: attr-defined
        pass


async def wrong_arguments(tcp: aio.TCPTransport, stream: aio.MessageStream) -> None:
    aio.MessageStream(tcp, max_size="1M")  # E: arg-type
    aio.MessageStream(tcp, 1024)  # E: call-arg
    aio.LineStream(tcp, delimiter="\n")  # E: arg-type
    await stream.send_message("text")  # E: arg-type
