"""The async twin of typed ancillary data: the same results, waiting on the event loop (APUE 16.5, 16.8)."""

from __future__ import annotations

import asyncio
import errno
import inspect
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_aio import LOOPS, Loop, turns
from test_ancillary import _closed_port
from test_udp import HOSTS
from transports import InetAddress, UnsupportedOption, WouldBlock, aio
from transports.ancillary import (
    IP_PKTINFO,
    IP_RECVERR,
    IPV6_RECVERR,
    AncillaryMixin,
    AsyncAncillaryMixin,
    ErrorOrigin,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="ancillary data is Linux-only here"
)

#: Seconds each async call may wait.
LIMIT = 5.0


#: The transports under test: the library's own async classes, which carry the mixin.
AioAncUDP = aio.UDPTransport
AioAncUnixgram = aio.UnixDatagramTransport


def test_the_async_datagram_transports_carry_the_mixin() -> None:
    assert issubclass(aio.UDPTransport, AsyncAncillaryMixin)
    assert issubclass(aio.UnixDatagramTransport, AsyncAncillaryMixin)


@pytest.fixture(params=LOOPS)
def aloop(request: pytest.FixtureRequest) -> Iterator[Loop]:
    loop = Loop(request.param)
    try:
        yield loop
    finally:
        loop.close()


def test_recv_msg_waits_for_the_datagram(aloop: Loop) -> None:
    async def main() -> None:
        async with (
            await AioAncUDP.bind("0.0.0.0", 0, timeout=LIMIT, options=[IP_PKTINFO(True)]) as server,
            await AioAncUDP.bind("127.0.0.1", 0, timeout=LIMIT) as client,
        ):
            port = server.local_address.port
            before = time.time()
            waiting = asyncio.ensure_future(server.recv_msg(100, timestamps=True, destination=True))
            await turns(3)
            assert not waiting.done()  # it waits on the loop for the datagram
            await client.send_to(b"ask", ("127.0.0.1", port))
            request = await waiting
            assert request.data == b"ask"
            assert request.timestamp is not None
            assert before - 1 <= request.timestamp.time <= time.time() + 1
            assert request.destination is not None
            assert request.destination.address == "127.0.0.1"
            await server.send_from(b"answer", request.address, request.destination)
            reply = await client.recv_from(100)
            assert (reply.data, reply.address) == (b"answer", InetAddress("127.0.0.1", port))

    aloop.run(main())


@pytest.mark.parametrize("host", HOSTS)
def test_a_queued_icmp_error_wakes_the_wait(aloop: Loop, host: str) -> None:
    option = IP_RECVERR(True) if ":" not in host else IPV6_RECVERR(True)

    async def main() -> None:
        async with await AioAncUDP.bind(host, 0, timeout=LIMIT, options=[option]) as sender:
            await sender.send_to(b"anyone?", (host, _closed_port(host)))
            message = await sender.recv_msg(100, errors=True)
            assert message.error is not None
            assert message.error.errno == errno.ECONNREFUSED
            assert message.error.origin in (ErrorOrigin.ICMP, ErrorOrigin.ICMP6)
            assert message.data == b"anyone?"

    aloop.run(main())


def test_timeout_zero_never_waits(aloop: Loop) -> None:
    async def main() -> None:
        async with await AioAncUDP.bind("127.0.0.1", 0, timeout=0) as receiver:
            with pytest.raises(WouldBlock):
                await receiver.recv_msg(100, timestamps=True)

    aloop.run(main())


def test_unix_datagram_timestamps_and_refusals(aloop: Loop, tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            await AioAncUnixgram.bind(str(tmp_path / "r"), timeout=LIMIT) as receiver,
            await AioAncUnixgram.bind(str(tmp_path / "s"), timeout=LIMIT) as sender,
        ):
            await sender.send_to(b"hi", receiver.local_address)
            message = await receiver.recv_msg(10, timestamps=True)
            assert message.timestamp is not None
            assert abs(message.timestamp.time - time.time()) < 60
            with pytest.raises(UnsupportedOption):
                await receiver.recv_msg(10, destination=True)
            with pytest.raises(UnsupportedOption):
                await receiver.send_from(b"x", receiver.local_address, "127.0.0.1")

    aloop.run(main())


def test_the_twins_have_the_same_signatures() -> None:
    for name in ("recv_msg", "send_from"):
        sync = inspect.signature(getattr(AncillaryMixin, name))
        both = inspect.signature(getattr(AsyncAncillaryMixin, name))
        assert sync == both, name
        assert inspect.iscoroutinefunction(getattr(AsyncAncillaryMixin, name))
