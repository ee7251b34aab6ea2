"""Happy Eyeballs (RFC 8305) on the async face: the same race as ``test_happy_eyeballs.py``, on each event loop.

The attempts are ``loop.sock_connect`` tasks scheduled by the same
:class:`~transports._core.dial.Race` as the sync face; what is checked here
is what only the async face can get wrong: the losers' tasks and sockets
are gone when the connect returns, raises or is cancelled, and the name
lookup (which runs in the loop's executor) counts against the one timeout.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import test_aio
from conftest import TIMEOUT, assert_no_fd_leak, needs_ipv6, open_fds
from test_aio import Loop, spin
from test_happy_eyeballs import (
    NAME,
    PAIRS,
    WELL_UNDER,
    Candidate,
    answering,
    free_port,
    new_sockets,
    resolve_name_to,
    sockaddr,
    stalling,
)
from transports import ConnectionRefused, InetAddress, TransportTimeout, aio

#: The fixture of test_aio: an event loop of each kind; no task or thread may outlive the test.
aloop = test_aio.aloop


@pytest.fixture
def fake_name(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[Candidate]], None]:
    """``fake_name([...])``: make the test's name resolve to these addresses."""
    return functools.partial(resolve_name_to, monkeypatch)


@pytest.mark.parametrize(("slow", "fast"), PAIRS)
def test_the_first_address_stalls_and_the_second_wins(
    aloop: Loop, slow: str, fast: str, fake_name: Callable[[list[Candidate]], None]
) -> None:
    async def body(stall_port: int, port: int) -> float:
        before = open_fds()
        start = time.monotonic()
        async with await aio.TCPTransport.connect(NAME, 80, timeout=TIMEOUT) as conn:
            elapsed = time.monotonic() - start
            assert new_sockets(before) == {conn.fileno()}, "the stalled attempt's socket is closed"
            assert conn.remote_address == InetAddress(fast, port)
            assert conn.timeout == TIMEOUT
            await conn.send_all(b"hello")
        assert new_sockets(before) == set()
        return elapsed

    with stalling(slow) as stall_port, answering(fast) as listener:
        fake_name([sockaddr(slow, stall_port), sockaddr(fast, listener.address.port)])
        elapsed = aloop.run(body(stall_port, listener.address.port))
        with listener.accept() as server:
            assert server.recv_exactly(5) == b"hello"
    assert elapsed < WELL_UNDER, f"took {elapsed:.2f} s: the second address waited for the first"


def test_every_address_refused_names_them_all(
    aloop: Loop, fake_name: Callable[[list[Candidate]], None]
) -> None:
    first, second = free_port("127.0.0.1"), free_port("127.0.0.2")
    fake_name([sockaddr("127.0.0.1", first), sockaddr("127.0.0.2", second)])

    async def body() -> None:
        for delay in (0.25, None):
            with assert_no_fd_leak(), pytest.raises(ConnectionRefused) as info:
                await aio.TCPTransport.connect(NAME, 8080, timeout=TIMEOUT, happy_eyeballs_delay=delay)
            text = str(info.value)
            assert f"connect to tcp://{NAME}:8080" in text
            assert f"tcp://127.0.0.1:{first} connection refused" in text
            assert f"tcp://127.0.0.2:{second} connection refused" in text
            assert "Is a server listening there?" in text

    aloop.run(body())


@pytest.mark.parametrize(
    ("slow", "other"), [("127.0.0.1", "127.0.0.2"), pytest.param("::1", "127.0.0.1", marks=needs_ipv6)]
)
def test_the_one_timeout_covers_every_attempt(
    aloop: Loop, slow: str, other: str, fake_name: Callable[[list[Candidate]], None]
) -> None:
    async def body() -> float:
        start = time.monotonic()
        with assert_no_fd_leak(), pytest.raises(TransportTimeout) as info:
            await aio.TCPTransport.connect(NAME, 80, timeout=0.6)
        assert "timed out (timeout of 0.6 s)" in str(info.value)
        return time.monotonic() - start

    with stalling(slow) as port_a, stalling(other) as port_b:
        fake_name([sockaddr(slow, port_a), sockaddr(other, port_b)])
        elapsed = aloop.run(body())
    assert 0.55 <= elapsed < WELL_UNDER, f"gave up after {elapsed:.2f} s, not at the timeout of 0.6 s"


def test_cancelling_the_connect_closes_every_attempt(
    aloop: Loop, fake_name: Callable[[list[Candidate]], None]
) -> None:
    async def body() -> None:
        before = open_fds()
        with assert_no_fd_leak():
            task = asyncio.create_task(
                aio.TCPTransport.connect(NAME, 80, timeout=None, happy_eyeballs_delay=0.0)
            )
            await spin(lambda: len(new_sockets(before)) >= 2, "both attempts started")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with stalling("127.0.0.1") as port_a, stalling("127.0.0.2") as port_b:
        fake_name([sockaddr("127.0.0.1", port_a), sockaddr("127.0.0.2", port_b)])
        aloop.run(body())


def test_the_lookup_counts_against_the_timeout(aloop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    answered = threading.Event()
    real = socket.getaddrinfo

    def slow_resolver(host: Any, *args: Any) -> Any:
        if host == NAME:
            answered.wait(TIMEOUT)  # a resolver that does not answer until the test lets it
            return real("127.0.0.1", *args)
        return real(host, *args)

    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)

    async def body() -> None:
        start = time.monotonic()
        try:
            with pytest.raises(TransportTimeout) as info:
                await aio.TCPTransport.connect(NAME, 80, timeout=0.3)
        finally:
            answered.set()  # the executor's thread returns, and the loop can close
        assert time.monotonic() - start < WELL_UNDER
        assert info.value.op == "resolve"
        assert f"resolve tcp://{NAME}:80: timed out (timeout of 0.3 s)" in str(info.value)

    aloop.run(body())


def test_a_url_races_too(aloop: Loop, fake_name: Callable[[list[Candidate]], None]) -> None:
    async def body(port: int) -> None:
        start = time.monotonic()
        async with await aio.connect(f"tcp://{NAME}:80", timeout=TIMEOUT) as conn:
            assert time.monotonic() - start < WELL_UNDER
            assert conn.remote_address == InetAddress("127.0.0.2", port)

    with stalling("127.0.0.1") as stall_port, answering("127.0.0.2") as listener:
        fake_name([sockaddr("127.0.0.1", stall_port), sockaddr("127.0.0.2", listener.address.port)])
        aloop.run(body(listener.address.port))
        listener.accept().close()


def test_listen_refuses_a_name_with_several_addresses(
    aloop: Loop, fake_name: Callable[[list[Candidate]], None]
) -> None:
    fake_name([sockaddr("127.0.0.1", 0), sockaddr("127.0.0.2", 0)])

    async def body() -> None:
        with (
            assert_no_fd_leak(),
            pytest.raises(ValueError, match=r"resolves to 2 addresses \(127\.0\.0\.1, 127\.0\.0\.2\)"),
        ):
            await aio.TCPListener.listen(NAME, 8080, timeout=TIMEOUT)

    aloop.run(body())
