"""Async sendfile, recv_into_file and descriptor passing: the sync code, resumed after each wait."""

from __future__ import annotations

import asyncio
import errno
import io
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, cast

import pytest

import transports._core.files as zero_copy_files
from conftest import TIMEOUT
from test_aio import LOOPS, APair, Loop, MiB, open_pair, shrink_buffers, spin, turns, unread
from test_recv_into_file_errors import FailingFile
from transports import (
    RecvFlags,
    SendFlags,
    TransportError,
    TransportTimeout,
    UnexpectedEOF,
    UnsupportedFlag,
    WouldBlock,
    ZeroCopyUnavailable,
    aio,
)
from transports.errors import FileWriteError

STREAMS = ["tcp4", "unix"]


@pytest.fixture(params=LOOPS)
def aloop(request: pytest.FixtureRequest) -> Iterator[Loop]:
    """An event loop of each kind; no task may outlive the test."""
    loop = Loop(request.param)
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture(params=STREAMS)
def sf_pair(request: pytest.FixtureRequest, aloop: Loop, tmp_sock_dir: Path) -> Iterator[APair]:
    """A TCP and a Unix stream pair."""
    stack = AsyncExitStack()
    try:
        yield aloop.run(open_pair(request.param, stack, tmp_sock_dir))
    finally:
        aloop.run(stack.aclose())


def _sendfile_ends(pair: APair) -> tuple[aio.SendfileCapable, aio.SendfileCapable]:
    assert isinstance(pair.a, aio.SendfileCapable)
    assert isinstance(pair.b, aio.SendfileCapable)
    return pair.a, pair.b


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3 * MiB + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


# -- sendfile ------------------------------------------------------------------------------------------


def test_sendfile_resumes_until_the_whole_file_is_sent(
    aloop: Loop, sf_pair: APair, big_file: tuple[Path, bytes], tmp_path: Path
) -> None:
    a, b = _sendfile_ends(sf_pair)
    shrink_buffers(a, b)  # the file cannot fit: the sync call stops at EAGAIN many times
    path, data = big_file
    reports: list[int] = []

    async def body() -> None:
        receiver = asyncio.create_task(b.recv_into_file(tmp_path / "copy.bin", len(data)))
        assert await a.sendfile(path, progress=reports.append) == len(data)
        assert await receiver == len(data)
        assert a.last_bytes_sent == len(data)

    aloop.run(body())
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert reports == sorted(reports)
    assert reports[-1] == len(data)


def test_sendfile_offset_count_headers_trailers(
    aloop: Loop, sf_pair: APair, big_file: tuple[Path, bytes]
) -> None:
    a, b = _sendfile_ends(sf_pair)
    path, data = big_file

    async def body() -> None:
        with open(path, "rb") as file:
            sender = asyncio.create_task(
                a.sendfile(file, 1000, 200_000, headers=b"HEAD", trailers=bytearray(b"TAIL"))
            )
            received = await b.recv_exactly(4 + 200_000 + 4)
            assert await sender == 200_000
            assert file.tell() == 0  # a regular file's position is never used
        assert received == b"HEAD" + data[1000:201_000] + b"TAIL"
        assert a.last_bytes_sent == 200_000  # file bytes only

    aloop.run(body())


def test_sendfile_from_memory_falls_back_or_refuses(aloop: Loop, sf_pair: APair) -> None:
    a, b = _sendfile_ends(sf_pair)
    shrink_buffers(a, b)
    data = os.urandom(MiB)

    async def body() -> None:
        source = io.BytesIO(data)
        source.seek(10)
        sender = asyncio.create_task(a.sendfile(source, 5))
        assert await b.recv_exactly(len(data) - 5) == data[5:]
        assert await sender == len(data) - 5
        assert source.tell() == 10
        with pytest.raises(ZeroCopyUnavailable) as info:
            await a.sendfile(io.BytesIO(b"x"), fallback=False)
        assert info.value.bytes_sent == 0

    aloop.run(body())


def test_sendfile_refuses_a_pipe(aloop: Loop, sf_pair: APair) -> None:
    a, _ = _sendfile_ends(sf_pair)

    async def body() -> None:
        read_end, write_end = os.pipe()
        try:
            with pytest.raises(ValueError, match="cannot be read at an offset"):
                await a.sendfile(read_end)
        finally:
            os.close(read_end)
            os.close(write_end)

    aloop.run(body())


def test_cancelled_sendfile_reports_bytes_sent(
    aloop: Loop, sf_pair: APair, big_file: tuple[Path, bytes]
) -> None:
    a, b = _sendfile_ends(sf_pair)
    shrink_buffers(a, b)
    path, data = big_file

    async def body() -> None:
        sender = asyncio.create_task(a.sendfile(path))
        await turns(10)
        assert not sender.done()
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sender
        sent = a.last_bytes_sent
        assert sent is not None
        assert 0 < sent < len(data)
        a.close()
        received = b""
        while chunk := await b.recv(MiB):
            received += chunk
        assert received == data[:sent]

    aloop.run(body())


def test_sendfile_timeout_carries_bytes_sent(
    aloop: Loop, sf_pair: APair, big_file: tuple[Path, bytes]
) -> None:
    a, b = _sendfile_ends(sf_pair)
    shrink_buffers(a, b)
    path, data = big_file

    async def body() -> None:
        a.timeout = 0.1
        with pytest.raises(TransportTimeout) as info:
            await a.sendfile(path)
        sent = info.value.bytes_sent
        assert sent is not None
        assert 0 < sent < len(data)
        assert a.last_bytes_sent == sent
        assert info.value.op == "sendfile"
        a.timeout = 0
        with pytest.raises(WouldBlock) as block:
            await a.sendfile(path)
        assert block.value.bytes_sent == 0

    aloop.run(body())


# -- recv_into_file ------------------------------------------------------------------------------------


def test_recv_into_file_reports_a_short_stream_across_waits(
    aloop: Loop, sf_pair: APair, tmp_path: Path
) -> None:
    a, b = _sendfile_ends(sf_pair)
    target = tmp_path / "short.bin"

    async def body() -> None:
        receiver = asyncio.create_task(b.recv_into_file(target, 1000))
        await a.send_all(b"x" * 100)
        await spin(lambda: unread(b) == 0, "the first part was taken")
        await turns(2)
        await a.send_all(b"y" * 50)
        a.close()
        with pytest.raises(UnexpectedEOF) as info:
            await receiver
        assert info.value.received == 150
        assert info.value.expected == 1000
        assert "150 of 1000" in str(info.value)

    aloop.run(body())
    assert target.read_bytes() == b"x" * 100 + b"y" * 50


def test_recv_into_file_writes_bytes_a_cancelled_receive_kept(
    aloop: Loop, sf_pair: APair, tmp_path: Path
) -> None:
    a, b = _sendfile_ends(sf_pair)
    target = tmp_path / "kept.bin"

    async def body() -> None:
        reader = asyncio.create_task(b.recv_exactly(100))
        await a.send_all(b"early")
        await spin(lambda: unread(b) == 0, "the reader took the bytes")
        await turns(2)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        seen: list[int] = []
        with open(target, "wb") as file:
            file.write(b">")
            await a.send_all(b" and late")
            a.shutdown("write")
            assert await b.recv_into_file(file, progress=seen.append) == 14
        assert seen[0] == 5
        assert seen[-1] == 14

    aloop.run(body())
    assert target.read_bytes() == b">early and late"


# -- recv_into_file and an unwritable or failing target file -----------------------------------------------


@pytest.fixture(params=["splice", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Receive with splice(2), or with it forced off (the recv_into/write loop)."""
    if request.param == "splice" and not zero_copy_files.HAS_SPLICE:
        pytest.skip("splice(2) is not available here")
    if request.param == "fallback":
        monkeypatch.setattr(zero_copy_files, "HAS_SPLICE", False)
    return str(request.param)


def test_recv_into_file_refuses_a_read_only_file_and_keeps_every_byte(
    aloop: Loop, sf_pair: APair, mode: str, tmp_path: Path
) -> None:
    # Bytes a cancelled receive kept back count too: they must not be written nowhere.
    a, b = _sendfile_ends(sf_pair)
    out = tmp_path / "read-only.bin"
    out.write_bytes(b"untouched")

    async def body() -> None:
        reader = asyncio.create_task(b.recv_exactly(100))
        await a.send_all(b"early")
        await spin(lambda: unread(b) == 0, "the reader took the bytes")
        await turns(2)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await a.send_all(b" and late")
        fd = os.open(out, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with open(out, "rb") as file, pytest.raises(ValueError, match="not open for writing"):
                await b.recv_into_file(file)
            with pytest.raises(ValueError, match="open read-only") as info:
                await b.recv_into_file(fd, 14)
            assert not isinstance(info.value, OSError)
            assert str(out) in str(info.value)
        finally:
            os.close(fd)
        assert await b.recv_exactly(14) == b"early and late"

    aloop.run(body())
    assert out.read_bytes() == b"untouched"


def test_recv_into_file_on_a_full_device(aloop: Loop, sf_pair: APair, mode: str) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    a, b = _sendfile_ends(sf_pair)
    data = os.urandom(50_000)

    async def body() -> None:
        await a.send_all(data)
        await spin(lambda: unread(b) == len(data), "everything arrived")
        with open("/dev/full", "wb") as full, pytest.raises(FileWriteError) as info:
            await b.recv_into_file(full, len(data))
        err = info.value
        assert TransportError not in type(err).__mro__  # a file error, not the connection's
        assert err.errno == errno.ENOSPC
        assert err.written == 0
        assert err.partial == data[: err.received]
        assert await b.recv_exactly(len(data) - err.received) == data[err.received :]

    aloop.run(body())


def test_recv_into_file_write_error_counts_across_waits(aloop: Loop, sf_pair: APair) -> None:
    # The file fails in the second resumed call: the counts are the whole call's.
    a, b = _sendfile_ends(sf_pair)
    first, second = b"x" * 100, b"y" * 200
    target = FailingFile(150, OSError(errno.EIO, os.strerror(errno.EIO)))

    async def body() -> None:
        receiver = asyncio.create_task(b.recv_into_file(cast(IO[bytes], target)))
        await a.send_all(first)
        await spin(lambda: unread(b) == 0, "the first part was taken")
        await turns(2)
        assert not receiver.done()
        await a.send_all(second)
        with pytest.raises(FileWriteError) as info:
            await receiver
        err = info.value
        assert TransportError not in type(err).__mro__  # a file error, not the connection's
        assert err.errno == errno.EIO
        assert err.written == 150
        assert err.received == 150 + len(err.partial)
        assert err.partial == (first + second)[150 : err.received]
        assert f"{err.received} bytes were taken from the stream: 150 reached the file" in str(err)
        a.shutdown("write")
        rest = b""
        while chunk := await b.recv(MiB):
            rest += chunk
        assert bytes(target.data) + err.partial + rest == first + second

    aloop.run(body())


def test_recv_into_file_timeout_says_received(aloop: Loop, sf_pair: APair, mode: str, tmp_path: Path) -> None:
    a, b = _sendfile_ends(sf_pair)

    async def body() -> None:
        b.timeout = 0.2
        await a.send_all(b"12345")
        with pytest.raises(TransportTimeout) as info:
            await b.recv_into_file(tmp_path / "out.bin", 10)
        assert info.value.bytes_sent == 5
        assert "5 bytes were received" in str(info.value)
        assert "sent" not in str(info.value)

    aloop.run(body())
    assert (tmp_path / "out.bin").read_bytes() == b"12345"


# -- descriptor passing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["stream", "datagram", "seqpacket"])
def test_pass_a_descriptor(aloop: Loop, kind: str) -> None:
    async def body() -> None:
        a, b = aio.socketpair(kind)  # type: ignore[call-overload]
        assert isinstance(a, aio.FdPassing)
        assert isinstance(b, aio.FdPassing)
        async with a, b:
            b.timeout = TIMEOUT
            receiver = asyncio.create_task(b.recv_fds(100, 2))
            await turns(2)
            read_end, write_end = os.pipe()
            try:
                assert await a.send_fds(b"take this", [write_end]) == 9
            finally:
                os.close(write_end)
            got = await receiver
            assert got.data == b"take this"
            assert len(got.fds) == 1
            with open(got.fds[0], "wb") as passed:
                passed.write(b"through the passed fd")
            with open(read_end, "rb") as pipe:
                assert pipe.read() == b"through the passed fd"
            assert b.peer_credentials().pid == os.getpid()
            with pytest.raises(UnsupportedFlag):
                await b.recv_fds(10, 1, RecvFlags.WAITALL)

    aloop.run(body())


def test_send_fds_waits_for_room_and_keeps_every_descriptor(aloop: Loop) -> None:
    async def body() -> None:
        a, b = aio.socketpair()
        async with a, b:
            b.timeout = TIMEOUT
            filler = 0
            while True:  # fill the socket until a non-blocking send is refused
                try:
                    filler += await a.send(bytes(65536), SendFlags.DONTWAIT)
                except WouldBlock:
                    break
            read_end, write_end = os.pipe()
            try:
                # A generator can be walked once: the retry must still send the descriptor.
                sender = asyncio.create_task(a.send_fds(b"!", (fd for fd in [write_end])))
                await turns(3)
                assert not sender.done()
                assert len(await b.recv_exactly(filler)) == filler
                assert await sender == 1
            finally:
                os.close(write_end)
            got = await b.recv_fds(10, 1)
            assert got.data == b"!"
            assert len(got.fds) == 1
            os.close(got.fds[0])
            os.close(read_end)

    aloop.run(body())


def test_recv_fds_hands_out_kept_bytes_first(aloop: Loop) -> None:
    async def body() -> None:
        a, b = aio.socketpair()
        async with a, b:
            reader = asyncio.create_task(b.recv_exactly(10))
            await a.send_all(b"kept")
            await spin(lambda: unread(b) == 0, "the reader took the bytes")
            await turns(2)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            got = await b.recv_fds(100, 1)
            assert (got.data, got.fds) == (b"kept", ())

    aloop.run(body())
