"""Files over TLS: ``sendfile`` through a buffer, ``recv_into_file``, and ``fallback=False`` refused up front.

Records are encrypted in this process, so zero copy cannot be: ``sendfile``
copies through a buffer, and with ``fallback=False`` both calls raise
:class:`~transports.ZeroCopyUnavailable` before a byte moves. Sync face over
a Unix socketpair, async face on each event loop.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_aio import Loop, aloop
from test_tls import in_thread, tls_pair, unix_plain
from test_tls_aio import tls_pair as aio_tls_pair
from test_tls_aio import unix_plain as aio_unix_plain
from tls_certs import PKI, tls_pki
from transports import UnexpectedEOF, ZeroCopyUnavailable
from transports.tls import TLSTransport, TLSTruncated

__all__ = ["aloop", "tls_pki"]  # fixtures used here: the event loops (test_aio), the certificates

MiB = 1 << 20


@pytest.fixture
def contexts(tls_pki: PKI) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts."""
    return tls_pki.server_context(), tls_pki.client_context()


@pytest.fixture
def pair(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[tuple[TLSTransport, TLSTransport]]:
    client, server = tls_pair(unix_plain(), *contexts)
    with client, server:
        yield client, server


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    """A 3 MiB + 5 file and its contents."""
    data = os.urandom(3 * MiB + 5)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    return path, data


def test_sendfile_copies_through_a_buffer(
    pair: tuple[TLSTransport, TLSTransport], source: tuple[Path, bytes]
) -> None:
    client, server = pair
    path, data = source
    progress: list[int] = []
    expected = b"HEAD" + data[100 : 100 + 2 * MiB] + b"TAIL"
    reading = in_thread(lambda: server.recv_exactly(len(expected)))
    sent = client.sendfile(path, 100, 2 * MiB, headers=b"HEAD", trailers=b"TAIL", progress=progress.append)
    assert sent == 2 * MiB  # file bytes only
    assert reading() == expected
    assert progress == sorted(progress)
    assert progress[-1] == 2 * MiB


def test_sendfile_without_fallback_moves_nothing(
    pair: tuple[TLSTransport, TLSTransport], source: tuple[Path, bytes]
) -> None:
    client, server = pair
    with pytest.raises(ZeroCopyUnavailable) as caught:
        client.sendfile(source[0], headers=b"never", fallback=False)
    assert caught.value.bytes_sent == 0
    assert "fallback=True" in str(caught.value)
    client.send_all(b"next")
    assert server.recv_exactly(4) == b"next"  # nothing went before it


def test_recv_into_file_counts_and_stops_at_close_notify(
    pair: tuple[TLSTransport, TLSTransport], tmp_path: Path, source: tuple[Path, bytes]
) -> None:
    client, server = pair
    _, data = source

    def send() -> None:
        client.send_all(data)
        client.shutdown("write")

    sending = in_thread(send)
    with (tmp_path / "first").open("wb") as first:
        assert server.recv_into_file(first, MiB) == MiB
    assert server.recv_into_file(tmp_path / "rest") == len(data) - MiB  # to the clean end
    sending()
    assert (tmp_path / "first").read_bytes() + (tmp_path / "rest").read_bytes() == data


def test_recv_into_file_errors(pair: tuple[TLSTransport, TLSTransport], tmp_path: Path) -> None:
    client, server = pair
    with pytest.raises(ZeroCopyUnavailable):
        server.recv_into_file(tmp_path / "never", fallback=False)
    client.send_all(b"12345")
    client.shutdown("write")
    with pytest.raises(UnexpectedEOF) as caught:
        server.recv_into_file(tmp_path / "short", 10)  # the clean end comes first
    assert caught.value.received == 5
    assert (tmp_path / "short").read_bytes() == b"12345"


def test_recv_into_file_truncated(pair: tuple[TLSTransport, TLSTransport], tmp_path: Path) -> None:
    client, server = pair
    server.send_all(b"cut short")
    server.stream.close()  # no close_notify
    with pytest.raises(TLSTruncated):
        client.recv_into_file(tmp_path / "cut")
    assert (tmp_path / "cut").read_bytes() == b"cut short"


def test_async_sendfile_and_recv_into_file(
    aloop: Loop, contexts: tuple[ssl.SSLContext, ssl.SSLContext], source: tuple[Path, bytes], tmp_path: Path
) -> None:
    path, data = source

    async def main() -> None:
        client, server = await aio_tls_pair(await aio_unix_plain(), *contexts)
        async with client, server:
            with pytest.raises(ZeroCopyUnavailable):
                await client.sendfile(path, fallback=False)
            with pytest.raises(ZeroCopyUnavailable):
                await server.recv_into_file(tmp_path / "never", fallback=False)

            async def send() -> int:
                sent = await client.sendfile(path, headers=b"<", trailers=b">")
                client.shutdown("write")
                return sent

            async with asyncio.TaskGroup() as group:
                sending = group.create_task(send())
                received = await server.recv_into_file(tmp_path / "copy")
            assert sending.result() == len(data)
            assert received == len(data) + 2

    aloop.run(main())
    assert (tmp_path / "copy").read_bytes() == b"<" + data + b">"
