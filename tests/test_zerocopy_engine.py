"""The zero-copy engine both faces share (``transports._core.zerocopy``).

What a ``sendfile`` call cannot do is found before any byte goes out, on
either face, and an error of the socket's side carries the same typed
fields as every other transport error.
"""

from __future__ import annotations

import io
import os
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from test_aio import LOOPS, Loop, open_pair, unread
from transports import BrokenPipe, RecvFlags, UnixStreamTransport, WouldBlock, ZeroCopyUnavailable, aio


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("kind", ["tcp4", "unix"])
def test_async_sendfile_refuses_before_a_header_byte_goes(
    kind: str, loop_name: str, tmp_path: Path, tmp_sock_dir: Path
) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(b"data")
    loop = Loop(loop_name)

    async def body() -> int:
        async with AsyncExitStack() as stack:
            pair = await open_pair(kind, stack, tmp_sock_dir)
            a = pair.a
            assert isinstance(a, aio.SendfileCapable)
            with pytest.raises(ZeroCopyUnavailable) as refused:
                await a.sendfile(io.BytesIO(b"x"), headers=b"HEAD", fallback=False)
            assert refused.value.bytes_sent == 0
            with pytest.raises(TypeError, match="progress"):
                await a.sendfile(path, headers=b"HEAD", progress=5)  # type: ignore[arg-type]  # the mistake tested
            assert a.last_bytes_sent == 0
            return unread(pair.b)

    try:
        assert loop.run(body()) == 0  # the peer was given no header byte
    finally:
        loop.close()


def test_sync_sendfile_refuses_before_a_header_byte_goes(tmp_path: Path) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(b"data")
    a, b = UnixStreamTransport.pair()
    with a, b:
        with pytest.raises(ZeroCopyUnavailable):
            a.sendfile(io.BytesIO(b"x"), headers=b"HEAD", fallback=False)
        with pytest.raises(TypeError, match="progress"):
            a.sendfile(path, headers=b"HEAD", progress=5)  # type: ignore[arg-type]  # the mistake tested
        with pytest.raises(WouldBlock):  # the peer was given no header byte
            b.recv(1, RecvFlags.DONTWAIT)


def test_a_sendfile_error_carries_the_typed_fields(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(1 << 20))
    a, b = UnixStreamTransport.pair()
    b.close()  # the peer is gone: the first sendfile(2) fails with EPIPE
    with a, pytest.raises(BrokenPipe) as info:
        a.sendfile(path)
    err = info.value
    assert (err.op, err.network, err.bytes_sent) == ("sendfile", "unix", 0)
