"""The async face of TLS (transports.tls.aio), on asyncio's loop and on uvloop.

Echo over TCP, a Unix stream and the memory transport; the end of the
stream (close_notify, truncation); timeouts; unwrap; the async
TLSListener (lazy handshake, serve). The conformance kit on the async face
is in test_tls_kit_aio.py. Every test runs one coroutine on the ``aloop``
fixture's loop (tests/test_aio.py), bounded in time, and no task outlives it.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest

from test_aio import Loop, aloop, turns
from tls_certs import PKI, tls_pki
from transports import (
    ConnectionReset,
    InetAddress,
    Kind,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportTimeout,
    UnsupportedFlag,
    aio,
)
from transports.testing import Faults
from transports.testing.aio_faults import FaultyTransport as AsyncFaultyTransport
from transports.tls import TLSEngine, TLSHandshakeError, TLSHandshakeTimeout, TLSTruncated
from transports.tls.aio import TLSListener, TLSTransport

__all__ = ["aloop", "tls_pki"]  # fixtures used here: the event loops (test_aio), the certificates

#: Seconds one blocking call may take.
TIMEOUT = 10.0
KiB = 1024
_names = itertools.count()

PlainPair = tuple[aio.StreamTransport, aio.StreamTransport]


async def tcp_plain() -> PlainPair:
    async with await aio.TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        client = await aio.TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT)
        return client, await listener.accept()


async def unix_plain() -> PlainPair:
    return aio.socketpair(Kind.STREAM)


async def memory_plain() -> PlainPair:
    listener = await aio.listen(f"memory://tls-aio-{uuid.uuid4().hex}-{next(_names)}")
    async with listener:
        client = await aio.connect(listener.address.url(), timeout=TIMEOUT)
        server = await listener.accept()
    assert isinstance(client, aio.StreamTransport)
    assert isinstance(server, aio.StreamTransport)
    return client, server


#: The plain async streams TLS runs over here.
PLAINS: dict[str, Callable[[], Awaitable[PlainPair]]] = {
    "tcp": tcp_plain,
    "unix": unix_plain,
    "memory": memory_plain,
}


async def tls_pair(
    plain: PlainPair, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> tuple[TLSTransport, TLSTransport]:
    """(client, server) after both handshakes, run side by side; both plain ends closed on failure."""
    a, b = plain
    a.timeout = b.timeout = TIMEOUT
    async with asyncio.TaskGroup() as group:
        client = group.create_task(TLSTransport.wrap(a, client_context, server_hostname="localhost"))
        server = group.create_task(TLSTransport.wrap(b, server_context, server_side=True))
    return client.result(), server.result()


@pytest.fixture
def contexts(tls_pki: PKI) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts, agreeing on the ALPN protocol test/1."""
    return tls_pki.server_context(alpn=["h2", "test/1"]), tls_pki.client_context(alpn=["test/1"])


# -- echo over every stream ----------------------------------------------------------------------------


@pytest.mark.parametrize("plain", sorted(PLAINS))
def test_echo(aloop: Loop, plain: str, contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    async def main() -> None:
        client, server = await tls_pair(await PLAINS[plain](), *contexts)
        async with client, server:
            payload = bytes(range(256)) * (1 * KiB)  # 256 KiB: many records

            async def echo() -> None:
                await server.send_all(await server.recv_exactly(len(payload)))

            async with asyncio.TaskGroup() as group:
                group.create_task(echo())
                await client.send_all(payload)
                assert await client.recv_exactly(len(payload)) == payload
            assert client.selected_alpn_protocol() == server.selected_alpn_protocol() == "test/1"
            assert client.version() == server.version()
            assert isinstance(client, aio.StreamTransport)
            client.shutdown("write")
            assert await server.recv(10) == b""

    aloop.run(main())


def test_shutdown_write_gives_the_peer_a_clean_end(
    aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    async def main() -> None:
        client, server = await tls_pair(await unix_plain(), *contexts)
        async with client, server:
            await client.send_all(b"request")
            client.shutdown("write")  # a plain method: queued, sent by a task at once
            assert await server.recv_exactly(7) == b"request"
            assert await server.recv(10) == b""
            assert await server.recv(10) == b""  # and stays ended
            await server.send_all(b"reply")  # the other direction still works
            assert await client.recv_exactly(5) == b"reply"
            with pytest.raises(TransportClosed, match="shutdown"):
                await client.send(b"too late")  # our side has ended

    aloop.run(main())


def test_shutdown_write_with_data_still_unread(
    aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    async def main() -> None:
        client, server = await tls_pair(await unix_plain(), *contexts)
        async with client, server:
            await server.send_all(b"early")
            await server.send_all(b"later")  # a second record, pulled in with the first one
            assert await client.recv(5) == b"early"
            client.shutdown("write")
            assert await client.recv_exactly(5) == b"later"
            assert await server.recv(10) == b""

    aloop.run(main())


def test_close_wakes_a_pending_recv(aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    async def main() -> None:
        client, server = await tls_pair(await unix_plain(), *contexts)
        async with server:
            receiving = asyncio.create_task(client.recv(10))
            await turns(2)  # the task starts, and waits for the plain stream
            assert not receiving.done()
            client.close()
            with pytest.raises(TransportClosed):
                await receiving

    aloop.run(main())


def test_aclose_sends_close_notify(aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    async def main() -> None:
        client, server = await tls_pair(await tcp_plain(), *contexts)
        async with server:
            await client.send_all(b"bye")
            await client.aclose()
            assert client.closed
            assert await server.recv_exactly(3) == b"bye"
            assert await server.recv(10) == b""  # a clean end, not a truncation

    aloop.run(main())


@pytest.mark.parametrize("plain", sorted(PLAINS))
def test_eof_without_close_notify_is_truncation(
    aloop: Loop, plain: str, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    async def main() -> None:
        client, server = await tls_pair(await PLAINS[plain](), *contexts)
        async with client, server:
            await server.send_all(b"half")
            server.stream.close()  # the plain stream ends: no close_notify
            with pytest.raises(TLSTruncated, match="close_notify") as caught:
                await client.recv_exactly(8)
            assert caught.value.partial == b"half"
            with pytest.raises(TLSTruncated):  # never a silent b"" afterwards
                await client.recv(10)

    aloop.run(main())


def test_unwrap_back_to_the_plain_stream(
    aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    async def main() -> None:
        plain_client, plain_server = await tcp_plain()
        async with plain_client, plain_server:
            await plain_client.send_all(b"STARTTLS\r\n")
            assert await plain_server.recv_exactly(10) == b"STARTTLS\r\n"
            client, server = await tls_pair((plain_client, plain_server), *contexts)
            await client.send_all(b"secret")
            assert await server.recv_exactly(6) == b"secret"
            async with asyncio.TaskGroup() as group:
                unwrapped_client = group.create_task(client.unwrap())
                unwrapped_server = group.create_task(server.unwrap())
            assert unwrapped_client.result() is plain_client
            assert unwrapped_server.result() is plain_server
            assert client.closed
            assert server.closed
            await plain_client.send_all(b"in the clear")
            assert await plain_server.recv_exactly(12) == b"in the clear"

    aloop.run(main())


# -- timeouts ------------------------------------------------------------------------------------------


def test_recv_timeout(aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    async def main() -> None:
        client, server = await tls_pair(await unix_plain(), *contexts)
        async with client, server:
            client.timeout = 0.2
            start = time.monotonic()
            with pytest.raises(TransportTimeout):
                await client.recv(10)
            assert time.monotonic() - start < 1.0
            await server.send_all(b"late")  # the stream still works
            assert await client.recv_exactly(4) == b"late"

    aloop.run(main())


def test_send_all_timeout_counts_bytes(aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    async def main() -> None:
        client, server = await tls_pair(await unix_plain(), *contexts)
        async with client, server:
            payload = bytes(range(256)) * (64 * KiB)  # 16 MiB, and nobody reads
            client.timeout = 0.3
            start = time.monotonic()
            with pytest.raises(TransportTimeout) as caught:
                await client.send_all(payload)
            assert time.monotonic() - start < 1.2
            sent = caught.value.bytes_sent
            assert sent is not None
            assert 0 < sent < len(payload)
            assert client.last_bytes_sent == sent
            assert await server.recv_exactly(sent) == payload[:sent]

    aloop.run(main())


def test_handshake_timeout_is_a_transport_timeout(
    aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    async def main() -> None:
        a, b = await unix_plain()
        async with b:
            a.timeout = 0.2
            start = time.monotonic()
            with pytest.raises(TLSHandshakeTimeout) as caught:
                await TLSTransport.wrap(a, contexts[1], server_hostname="localhost")
            assert time.monotonic() - start < 1.0
            assert isinstance(caught.value, TransportTimeout)
            assert a.closed

    aloop.run(main())


# -- the async TLSListener -----------------------------------------------------------------------------


async def connect(listener: TLSListener[InetAddress], pki: PKI) -> TLSTransport:
    return await TLSTransport.connect(
        "127.0.0.1", listener.address.port, context=pki.client_context(), server_hostname="localhost",
        timeout=TIMEOUT,
    )  # fmt: skip


def test_listener_lazy_handshake_and_garbage(aloop: Loop, tls_pki: PKI) -> None:
    async def main() -> None:
        async with await TLSListener.listen(
            "127.0.0.1", 0, context=tls_pki.server_context(), timeout=TIMEOUT
        ) as listener:
            async with await aio.TCPTransport.connect(
                "127.0.0.1", listener.address.port, timeout=TIMEOUT
            ) as garbage:
                await garbage.send_all(b"GET / HTTP/1.0\r\n\r\n")
                async with await listener.accept() as server:
                    assert not server.handshake_done  # accept did not run it
                    with pytest.raises(TLSHandshakeError) as caught:
                        await server.recv(10)
                    assert caught.value.reason is not None
            # The listener goes on accepting, and a good client is served.
            connecting = asyncio.create_task(connect(listener, tls_pki))
            async with await listener.accept() as server:
                await server.do_handshake()
                async with await connecting as client:
                    await client.send_all(b"fine")
                    assert await server.recv_exactly(4) == b"fine"
                    assert server.handshake_done

    aloop.run(main())


def test_listener_serve(aloop: Loop, tls_pki: PKI) -> None:
    async def main() -> None:
        async def handler(conn: TLSTransport) -> None:
            await conn.send_all((await conn.recv_exactly(5)).upper())

        async with await TLSListener.listen("127.0.0.1", 0, context=tls_pki.server_context()) as listener:
            serving = asyncio.create_task(listener.serve(handler, grace=TIMEOUT))
            try:
                for _ in range(2):
                    async with await connect(listener, tls_pki) as client:
                        await client.send_all(b"hello")
                        assert await client.recv_exactly(5) == b"HELLO"
                        assert await client.recv(1) == b""  # the handler returned: close_notify
            finally:
                listener.close()
                served = await serving
            assert served.accepted == 2
            assert served.failed == 0

    aloop.run(main())


def test_listener_iteration_and_lazy_client(aloop: Loop, tls_pki: PKI) -> None:
    async def main() -> None:
        listener = await TLSListener.listen("127.0.0.1", 0, context=tls_pki.server_context(), timeout=TIMEOUT)
        async with listener:
            plain = await aio.TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT)
            client = TLSTransport(plain, TLSEngine(tls_pki.client_context(), server_hostname="localhost"))
            async with client:
                async for server in listener:
                    async with server:
                        async with asyncio.TaskGroup() as group:  # both lazy handshakes meet
                            group.create_task(client.send_all(b"lazy"))
                            assert await server.recv_exactly(4) == b"lazy"
                    listener.close()  # iteration then ends
            assert listener.closed
            assert [conn async for conn in listener] == []

    aloop.run(main())


# -- flags and faults ----------------------------------------------------------------------------------


def test_flags_are_refused(aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    async def main() -> None:
        client, server = await tls_pair(await unix_plain(), *contexts)
        async with client, server:
            with pytest.raises(UnsupportedFlag) as caught:
                await client.send(b"x", SendFlags.OOB)
            assert caught.value.network == "tls"
            with pytest.raises(UnsupportedFlag):
                await client.recv(1, RecvFlags.PEEK)
            await server.send_all(b"intact")  # nothing was consumed or sent
            assert await client.recv_exactly(6) == b"intact"

    aloop.run(main())


@pytest.mark.parametrize("plain", ["unix", "memory"])
def test_send_all_cut_mid_stream_reports_bytes_sent(
    aloop: Loop, plain: str, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    async def main() -> None:
        a, b = await PLAINS[plain]()
        faulty = AsyncFaultyTransport(a)
        client, server = await tls_pair((faulty, b), *contexts)
        async with client, server:
            faulty.faults = Faults(reset_after=faulty.bytes_sent + 100_000 + 7)  # mid-record
            payload = bytes(range(256)) * (4 * KiB)  # 1 MiB
            reading = asyncio.create_task(server.recv_exactly(len(payload)))
            with pytest.raises(ConnectionReset) as sent:
                await client.send_all(payload)
            # The end of the stream without close_notify; over a Unix socket a reset, as the
            # injector closes a socket with the session tickets unread.
            with pytest.raises((TLSTruncated, ConnectionReset)) as received:
                await reading
        bytes_sent, partial = sent.value.bytes_sent, received.value.partial
        assert bytes_sent is not None
        assert partial is not None
        assert 0 < bytes_sent < 100_000
        assert partial == payload[: len(partial)]
        assert len(partial) >= bytes_sent

    aloop.run(main())
