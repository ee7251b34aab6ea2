"""The one Deadline of multi-call operations (APUE 14.4), and connect's shared budget (Go's partialDeadline)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from conftest import TIMEOUT
from transports import (
    RecvFlags,
    SendFlags,
    TCPListener,
    TCPTransport,
    TransportTimeout,
    UnixStreamTransport,
    WouldBlock,
    aio,
)
from transports import tcp as tcp_module
from transports._core.deadline import Deadline
from transports._core.owner import new_socket


def test_no_limit() -> None:
    deadline = Deadline(None)
    assert deadline.left() is None
    assert not deadline.expired
    assert deadline.share(5) is None


def test_left_counts_down_from_the_start_and_stops_at_zero() -> None:
    now = time.monotonic()
    assert Deadline(10.0, start=now - 4.0).left() == pytest.approx(6.0, abs=0.5)
    spent = Deadline(1.0, start=now - 5.0)
    assert spent.left() == 0.0
    assert spent.expired


@pytest.mark.parametrize(
    ("timeout", "ago", "attempts", "share"),
    [
        (30.0, 0.0, 3, 10.0),  # an equal part of what is left
        (30.0, 0.0, 1, 30.0),  # the last address gets all that is left
        (30.0, 0.0, 30, 2.0),  # never under two seconds...
        (10.0, 9.0, 3, 1.0),  # ...unless less than that is left
        (1.0, 5.0, 2, 0.0),  # spent
    ],
)
def test_share_is_gos_partial_deadline(timeout: float, ago: float, attempts: int, share: float) -> None:
    deadline = Deadline(timeout, start=time.monotonic() - ago)
    assert deadline.share(attempts) == pytest.approx(share, abs=0.5)


def test_wait_returns_once_ready_and_refuses_to_wait_at_zero() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.send(b"x")
        Deadline(TIMEOUT).wait(b, writing=False)  # readable: returns at once
        Deadline(None).wait(b, writing=True)  # room to write: returns at once
        with pytest.raises(BlockingIOError):
            Deadline(0).wait(b, writing=False)
        with pytest.raises(TimeoutError):
            Deadline(1.0, start=time.monotonic() - 2.0).wait(b.fileno(), writing=False)


def test_wait_times_out_on_a_quiet_socket() -> None:
    a, b = socket.socketpair()
    with a, b, pytest.raises(TimeoutError):
        Deadline(0.05).wait(b, writing=False)


def test_before_next_call_waits_only_under_a_finite_timeout() -> None:
    a, b = socket.socketpair()
    with a, b:
        Deadline(None).before_next_call(b, writing=False)  # blocking socket: the call waits itself
        Deadline(0).before_next_call(b, writing=False)  # non-blocking: the call fails itself
        with pytest.raises(TimeoutError):
            Deadline(0.05).before_next_call(b, writing=False)


def test_a_multi_call_receive_never_touches_the_socket_timeout() -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        b.timeout = 0.2
        a.send_all(b"abc")
        with pytest.raises(TransportTimeout) as info:
            b.recv_exactly(10)
        assert info.value.partial == b"abc"
        assert b.raw_socket.gettimeout() == 0.2


# -- connect: one budget across the resolved addresses ----------------------------------


def _refusing_candidates(count: int) -> list[tuple[int, Any]]:
    """Addresses on loopback where nothing listens: each connect is refused at once."""
    ports = []
    for _ in range(count):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    return [(socket.AF_INET, ("127.0.0.1", port)) for port in ports]


def test_sync_connect_shares_one_budget_between_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        candidates = [*_refusing_candidates(2), (socket.AF_INET, ("127.0.0.1", listener.address.port))]
        monkeypatch.setattr(tcp_module, "resolve", lambda *args, **kwargs: candidates)
        attempts: list[float | None] = []

        def recording(
            family: int, kind: Any, settings: Any, where: str, timeout: float | None
        ) -> socket.socket:
            attempts.append(timeout)
            return new_socket(family, kind, settings, where, timeout)

        monkeypatch.setattr("transports.tcp.new_socket", recording)
        with (
            TCPTransport.connect("example.invalid", 80, timeout=30.0, happy_eyeballs_delay=None) as conn,
            listener.accept(),
        ):
            assert conn.timeout == 30.0, "the transport keeps the timeout it was given"
    # Before: every address got the whole 30 s. Now a third, a half, then all that is left.
    assert attempts[0] == pytest.approx(10.0, abs=1.0)
    assert attempts[1] == pytest.approx(15.0, abs=1.0)
    assert attempts[2] == pytest.approx(30.0, abs=1.0)


def test_async_connect_shares_one_budget_between_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    budgets: list[float | None] = []
    real_timeout = asyncio.timeout

    def recording(delay: float | None) -> Any:
        budgets.append(delay)
        return real_timeout(delay)

    async def main(port: int) -> None:
        async with await aio.TCPTransport.connect(
            "example.invalid", 80, timeout=30.0, happy_eyeballs_delay=None
        ) as conn:
            assert conn.timeout == 30.0

    with TCPListener.listen("127.0.0.1", 0) as listener:
        candidates = [*_refusing_candidates(2), (socket.AF_INET, ("127.0.0.1", listener.address.port))]
        monkeypatch.setattr(tcp_module, "resolve", lambda *args, **kwargs: candidates)  # the aio twin's too
        monkeypatch.setattr(asyncio, "timeout", recording)
        asyncio.run(asyncio.wait_for(main(listener.address.port), TIMEOUT))
        with listener.accept():
            pass
    connect_budgets = [b for b in budgets if b is not None and b > 5]
    assert connect_budgets[-3:] == [
        pytest.approx(10.0, abs=1.0),
        pytest.approx(15.0, abs=1.0),
        pytest.approx(30.0, abs=1.0),
    ]


class _TimeoutSpy(socket.socket):
    """A socket that records every settimeout, to show who touches its timeout."""

    changes: list[float | None]

    def settimeout(self, value: float | None) -> None:
        self.changes.append(value)
        super().settimeout(value)


def test_a_dontwait_receive_under_a_timeout_never_touches_the_socket_timeout() -> None:
    a, b = socket.socketpair()
    with a:
        spy = _TimeoutSpy(b.family, b.type, b.proto, fileno=b.detach())
        spy.changes = []
        with UnixStreamTransport(spy) as end:
            end.timeout = 5.0
            spy.changes.clear()
            with pytest.raises(WouldBlock):
                end.recv(10, RecvFlags.DONTWAIT)  # nothing there: at once, not after 5 s
            a.send(b"data")
            assert end.recv(10, RecvFlags.DONTWAIT) == b"data"
            assert spy.changes == [], "a DONTWAIT receive rewrote the timeout another thread may rely on"
            assert end.send(b"x", SendFlags.DONTWAIT) == 1  # sends still suspend it for the call
            assert end.timeout == 5.0
