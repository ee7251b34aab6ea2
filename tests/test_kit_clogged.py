"""Clogged pairs: every send waits until the peer has received it, and the stream checks still pass.

A clogged pair (:func:`transports.testing.clogging`) shows blocking without
filling kernel buffers: a send ends only once the peer has received it, by
its timeout, or by ``close()``. The stream checks receive while they send,
so they pass on clogged pairs of either face -- which proves they do not
rely on a transport buffering what was sent.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import cast

import pytest

import transports
from conftest import TIMEOUT
from transports import MemoryStreamTransport, TransportClosed, TransportTimeout, UnixStreamTransport, aio
from transports.testing import (
    STREAM_CHECKS,
    CloggedEnd,
    PairFactory,
    clogged,
    run_async_stream_checks,
    run_stream_checks,
)
from transports.testing._common import Worker
from transports.testing.aio import loop_factories


@pytest.fixture(autouse=True)
def no_check_thread_left() -> Iterator[None]:
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("transports-check-")]
    assert left == []


def _unix_streams() -> tuple[transports.Transport, transports.Transport]:
    return transports.socketpair("stream")


def _memory_streams() -> tuple[transports.Transport, transports.Transport]:
    return MemoryStreamTransport.pair("clogged")


@pytest.mark.parametrize("factory", [_unix_streams, _memory_streams], ids=["unix", "memory"])
def test_the_stream_checks_pass_on_clogged_pairs(factory: PairFactory[transports.Transport]) -> None:
    results = run_stream_checks(clogged(factory))
    assert list(results) == [check.__name__ for check in STREAM_CHECKS]
    assert set(results.values()) == {"passed"}


@pytest.mark.parametrize("loop", list(loop_factories()))
def test_the_stream_checks_pass_on_clogged_async_pairs(loop: str) -> None:
    async def pair() -> tuple[aio.Transport, aio.Transport]:
        return aio.socketpair("stream")

    async def run() -> dict[str, str]:
        async with asyncio.timeout(60):
            return await run_async_stream_checks(pair, clogged=True)

    with asyncio.Runner(loop_factory=loop_factories()[loop]) as runner:
        results = runner.run(run())
    assert set(results.values()) == {"passed"}


def _clogged_pair() -> tuple[UnixStreamTransport, UnixStreamTransport]:
    a, b = clogged(UnixStreamTransport.pair)()
    assert isinstance(cast(object, a), CloggedEnd)  # typed as the end it wraps
    a.timeout = TIMEOUT
    b.timeout = TIMEOUT
    return a, b


def test_a_send_ends_when_the_peer_has_received_it() -> None:
    a, b = _clogged_pair()
    with a, b:
        sender = Worker(lambda: a.send_all(b"x" * 1000), "a clogged send")
        assert b.recv_exactly(400) == b"x" * 400
        assert b.recv_exactly(600) == b"x" * 600
        sender.result()  # released by the receives: within TIMEOUT


def test_a_send_nobody_receives_times_out_saying_what_was_taken() -> None:
    a, b = _clogged_pair()
    with a, b:
        a.timeout = 0.05
        with pytest.raises(TransportTimeout) as info:
            a.send(b"never read")
        assert info.value.bytes_sent == len(b"never read")
        assert "clogged" in str(info.value)


def test_close_wakes_a_send_that_waits_for_the_peer() -> None:
    a, b = _clogged_pair()
    with b:
        a.timeout = None
        started = threading.Event()

        def send() -> None:
            started.set()
            a.send_all(b"waits for a receive that never comes")

        sender = Worker(send, "a clogged send")
        assert started.wait(TIMEOUT)
        a.close()  # before or during the wait: TransportClosed either way
        with pytest.raises(TransportClosed):
            sender.result()


def test_a_clogged_end_is_still_the_transport_it_wraps() -> None:
    a, b = _clogged_pair()
    with a, b:
        assert isinstance(a, transports.StreamTransport)
        assert a.kind is transports.Kind.STREAM
        assert a.remote_address == b.local_address
        a.timeout = 1.5
        assert a.timeout == 1.5
        assert "clogged" in repr(a)
    assert a.closed
    assert b.closed
