"""The drifts tests/test_mirroring.py found between the faces, checked by behaviour: each works as in sync.

Typed calls here also check the annotations: mypy --strict runs over tests,
so a call the aio annotation refuses fails the type check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TIMEOUT, assert_no_fd_leak
from test_aio import LOOPS, Loop
from transports import ReceivedFds, UnixAddress, UnixDatagramTransport, aio


@pytest.fixture(params=LOOPS)
def aloop(request: pytest.FixtureRequest) -> Iterator[Loop]:
    """An event loop of each kind; no task may outlive the test."""
    loop = Loop(request.param)
    try:
        yield loop
    finally:
        loop.close()


def _check_passed(got: ReceivedFds, data: bytes, read_end: int) -> None:
    """*got* holds *data* and one descriptor: the write end of the pipe whose read end is *read_end*."""
    assert got.data == data
    assert len(got.fds) == 1
    with open(got.fds[0], "wb") as passed:
        passed.write(b"through the passed fd")
    with open(read_end, "rb") as pipe:
        assert pipe.read() == b"through the passed fd"


def test_sync_send_fds_takes_a_path_like_address(tmp_sock_dir: Path) -> None:
    """The reference: the sync face takes ``address=Path(...)``."""
    server_path, client_path = tmp_sock_dir / "server.sock", tmp_sock_dir / "client.sock"
    with (
        assert_no_fd_leak(),
        UnixDatagramTransport.bind(server_path, timeout=TIMEOUT) as server,
        UnixDatagramTransport.bind(client_path, timeout=TIMEOUT) as client,
    ):
        read_end, write_end = os.pipe()
        try:
            assert client.send_fds(b"by path", [write_end], address=server_path) == 7
        finally:
            os.close(write_end)
        got = server.recv_fds(16, 1)
        assert got.address == UnixAddress(os.fspath(client_path))
        _check_passed(got, b"by path", read_end)


def test_aio_send_fds_takes_a_path_like_address(aloop: Loop, tmp_sock_dir: Path) -> None:
    """The aio face too (its annotation used to refuse ``os.PathLike``, issue 14)."""
    server_path, client_path = tmp_sock_dir / "server.sock", tmp_sock_dir / "client.sock"

    async def body() -> None:
        async with (
            await aio.UnixDatagramTransport.bind(server_path, timeout=TIMEOUT) as server,
            await aio.UnixDatagramTransport.bind(client_path, timeout=TIMEOUT) as client,
        ):
            read_end, write_end = os.pipe()
            try:
                assert await client.send_fds(b"by path", [write_end], address=server_path) == 7
            finally:
                os.close(write_end)
            got = await server.recv_fds(16, 1)
            assert got.address == UnixAddress(os.fspath(client_path))
            _check_passed(got, b"by path", read_end)

    with assert_no_fd_leak():
        aloop.run(body())


def test_the_async_fd_passing_protocol_takes_a_path_like_address(aloop: Loop, tmp_sock_dir: Path) -> None:
    """Through :class:`aio.FdPassing` (the protocol, not the class), a ``Path`` address type-checks and works."""
    server_path = tmp_sock_dir / "proto.sock"

    async def send(sender: aio.FdPassing, fd: int) -> int:
        return await sender.send_fds(b"x", [fd], address=server_path)

    async def body() -> None:
        async with (
            await aio.UnixDatagramTransport.bind(server_path, timeout=TIMEOUT) as server,
            await aio.UnixDatagramTransport.bind(None, timeout=TIMEOUT) as client,
        ):
            read_end, write_end = os.pipe()
            try:
                assert await send(client, write_end) == 1
            finally:
                os.close(write_end)
            _check_passed(await server.recv_fds(4, 1), b"x", read_end)

    aloop.run(body())
