"""Pins the static types of the async framed streams, ``aio.MessageStream`` and ``aio.LineStream``.

Kept apart from ``accept_aio.py`` so the framing can move without touching
the transports' types. Sending and receiving wait, so they are coroutines;
the limits and the transport are plain properties, as on the sync face.
``recv_message`` gives ``None`` at a clean end of the stream, and
``async for`` yields each message until then.
"""

from __future__ import annotations

from typing import assert_type

from transports import aio


async def message_streams(tcp: aio.TCPTransport, s: aio.StreamTransport) -> None:
    stream = aio.MessageStream(tcp, max_size=1 << 20)
    assert_type(stream, aio.MessageStream)
    assert_type(await stream.send_message(b"hello"), None)
    assert_type(await stream.send_message(memoryview(b"hello")), None)
    assert_type(await stream.recv_message(), bytes | None)
    assert_type(stream.max_size, int)
    assert_type(stream.transport, aio.StreamTransport)
    async for message in stream:
        assert_type(message, bytes)
    async with aio.MessageStream(s) as entered:
        assert_type(entered, aio.MessageStream)
    assert_type(await stream.aclose(), None)
    assert_type(stream.close(), None)


async def line_streams(unix: aio.UnixStreamTransport) -> None:
    lines = aio.LineStream(unix, delimiter=b"\r\n", max_length=1024)
    assert_type(lines, aio.LineStream)
    assert_type(await lines.send_message(b"HELO example.org"), None)
    assert_type(await lines.recv_message(), bytes | None)
    assert_type(lines.delimiter, bytes)
    assert_type(lines.max_length, int)
    assert_type(lines.buffered, bytes)
    async for line in lines:
        assert_type(line, bytes)
    async with lines as entered:
        assert_type(entered, aio.LineStream)


async def over_any_url() -> None:
    transport = await aio.connect("tcp://127.0.0.1:80")
    assert isinstance(transport, aio.StreamTransport)
    async with aio.MessageStream(transport) as stream:
        assert_type(await stream.recv_message(), bytes | None)
