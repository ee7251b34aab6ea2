"""Happy Eyeballs (RFC 8305) for TCP connect, and the one-address rule of listen (issue 19), on the sync face.

A name that resolves to two addresses where the first one stalls must
connect through the second in well under the timeout, closing the loser;
when all fail, the error names every address; the one budget covers it all.
The resolver is replaced for one made-up name (:func:`fake_name`), so that
the name's addresses are loopback listeners this test controls: one that
answers, and one that stalls because its accept queue is full (the kernel
drops the SYN of a listener whose backlog is full, so the client's connect
waits for a SYN-ACK that never comes; :func:`test_a_full_backlog_stalls_a_connect`
checks that this kernel does so). The async twins are in
``test_happy_eyeballs_aio.py``. Real sockets on loopback; every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import transports
from conftest import HAS_IPV6, TIMEOUT, assert_no_fd_leak, needs_ipv6, open_fds
from transports import (
    AddressError,
    ConnectionRefused,
    InetAddress,
    TCPListener,
    TCPTransport,
    TransportTimeout,
    WouldBlock,
)
from transports._core.dial import Dial, interleave
from transports._core.inet import one_address

#: The made-up name the fake resolver answers for (``.invalid`` never resolves for real).
NAME = "eyeballs.invalid"
#: A connect that got past the stalling address must be done well before this: a sequential
#: connect would give the stalling address half of TIMEOUT (2.5 s) before trying the next.
WELL_UNDER = 2.0

Candidate = tuple[socket.AddressFamily, Any]


def sockaddr(host: str, port: int) -> Candidate:
    """What ``getaddrinfo`` gives for *host* (an IP literal) and *port*."""
    if ":" in host:
        return (socket.AF_INET6, (host, port, 0, 0))
    return (socket.AF_INET, (host, port))


def resolve_name_to(monkeypatch: pytest.MonkeyPatch, candidates: list[Candidate]) -> None:
    """Make :data:`NAME` resolve to *candidates*, in this order; every other name still resolves for real.

    The port asked for is ignored: each address carries the port of its own listener.
    """
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, *args: Any) -> Any:
        if host != NAME:
            return real(host, port, family, type, *args)
        return [
            (fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", addr)
            for fam, addr in candidates
            if family in (0, fam)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def fake_name(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[Candidate]], None]:
    """``fake_name([...])``: make :data:`NAME` resolve to these addresses (:func:`resolve_name_to`)."""
    return functools.partial(resolve_name_to, monkeypatch)


@contextlib.contextmanager
def stalling(host: str) -> Iterator[int]:
    """A listener on *host* whose accept queue is full: a connect to its port waits for ever. Yields the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(0)  # Linux keeps one connection in a queue of 0...
        port: int = listener.getsockname()[1]
        # ...and this one fills it; nobody accepts it, so later SYNs are dropped.
        with socket.create_connection((host, port), timeout=TIMEOUT):
            yield port


@contextlib.contextmanager
def answering(host: str) -> Iterator[TCPListener]:
    """A listener on *host* that takes connections."""
    with TCPListener.listen(host, 0, timeout=TIMEOUT) as listener:
        yield listener


def free_port(host: str) -> int:
    """A port on *host* where nothing listens (a connect there is refused at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def new_sockets(before: dict[int, str]) -> set[int]:
    """The sockets this process has open now that it had not in *before*."""
    return {
        fd for fd, target in open_fds().items() if target.startswith("socket:") and before.get(fd) != target
    }


#: (the stalling host, the answering host): the families of the race, or two IPv4 addresses.
PAIRS = [
    pytest.param("::1", "127.0.0.1", id="ipv6-stalls", marks=needs_ipv6),
    pytest.param("127.0.0.1", "::1", id="ipv4-stalls", marks=needs_ipv6),
    pytest.param("127.0.0.1", "127.0.0.2", id="ipv4-only"),
]


# -- the kernel does what the tests rely on -------------------------------------------------------


@pytest.mark.parametrize(
    "host", [pytest.param("127.0.0.1", id="ipv4"), pytest.param("::1", id="ipv6", marks=needs_ipv6)]
)
def test_a_full_backlog_stalls_a_connect(host: str) -> None:
    with stalling(host) as port, socket.socket(sockaddr(host, 0)[0], socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        assert probe.connect_ex((host, port)) == errno.EINPROGRESS  # the SYN went out
        poller = select.poll()
        poller.register(probe, select.POLLOUT)
        assert poller.poll(300) == [], "the connect finished: a full backlog does not stall here"


# -- the order of a race ----------------------------------------------------------------------------


def test_interleave_alternates_families_starting_with_the_resolvers_first() -> None:
    a6, b6 = sockaddr("::1", 1), sockaddr("::2", 1)
    a4, b4, c4 = sockaddr("127.0.0.1", 1), sockaddr("127.0.0.2", 1), sockaddr("127.0.0.3", 1)
    assert interleave([a6, b6, a4, b4, c4]) == [a6, a4, b6, b4, c4]
    assert interleave([a4, b4, a6]) == [a4, a6, b4]
    assert interleave([a4, b4]) == [a4, b4]
    assert interleave([a6]) == [a6]


# -- the race --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("slow", "fast"), PAIRS)
def test_the_first_address_stalls_and_the_second_wins(
    slow: str, fast: str, fake_name: Callable[[list[Candidate]], None]
) -> None:
    with stalling(slow) as stall_port, answering(fast) as listener:
        fake_name([sockaddr(slow, stall_port), sockaddr(fast, listener.address.port)])
        before = open_fds()
        start = time.monotonic()
        with TCPTransport.connect(NAME, 80, timeout=TIMEOUT) as conn:
            elapsed = time.monotonic() - start
            assert new_sockets(before) == {conn.fileno()}, "the stalled attempt's socket is closed"
            assert conn.remote_address == listener.address
            assert conn.timeout == TIMEOUT
            with listener.accept() as server:
                conn.send_all(b"hello")
                assert server.recv_exactly(5) == b"hello"
        assert new_sockets(before) == set()
    assert elapsed < WELL_UNDER, f"took {elapsed:.2f} s: the second address waited for the first"


def test_the_sync_race_runs_on_the_calling_thread(
    fake_name: Callable[[list[Candidate]], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_threads(self: threading.Thread) -> None:
        raise AssertionError(f"the connect started a thread: {self!r}")

    with stalling("127.0.0.1") as stall_port, answering("127.0.0.2") as listener:
        fake_name([sockaddr("127.0.0.1", stall_port), sockaddr("127.0.0.2", listener.address.port)])
        monkeypatch.setattr(threading.Thread, "start", no_threads)
        with TCPTransport.connect(NAME, 80, timeout=TIMEOUT) as conn:
            assert conn.remote_address == listener.address
            listener.accept().close()


def test_a_failed_attempt_starts_the_next_without_waiting_for_the_delay(
    fake_name: Callable[[list[Candidate]], None],
) -> None:
    # With a delay far longer than the timeout, only "the one before failed" can start the next.
    with answering("127.0.0.1") as listener:
        fake_name(
            [sockaddr("127.0.0.2", free_port("127.0.0.2")), sockaddr("127.0.0.1", listener.address.port)]
        )
        with TCPTransport.connect(NAME, 80, timeout=TIMEOUT, happy_eyeballs_delay=60.0) as conn:
            assert conn.remote_address == listener.address
            listener.accept().close()


def test_every_address_refused_names_them_all(fake_name: Callable[[list[Candidate]], None]) -> None:
    first, second = free_port("127.0.0.1"), free_port("127.0.0.2")
    fake_name([sockaddr("127.0.0.1", first), sockaddr("127.0.0.2", second)])
    for delay in (0.25, None):
        with assert_no_fd_leak(), pytest.raises(ConnectionRefused) as info:
            TCPTransport.connect(NAME, 8080, timeout=TIMEOUT, happy_eyeballs_delay=delay)
        error = info.value
        text = str(error)
        assert f"connect to tcp://{NAME}:8080" in text
        assert f"tcp://127.0.0.1:{first} connection refused (ECONNREFUSED)" in text
        assert f"tcp://127.0.0.2:{second} connection refused (ECONNREFUSED)" in text
        assert "Is a server listening there?" in text  # what to do
        assert error.op == "connect"
        assert error.address == f"tcp://{NAME}:8080"
        assert error.remote == InetAddress(NAME, 8080)
        assert isinstance(error.__cause__, ExceptionGroup)
        assert [getattr(e, "address", None) for e in error.__cause__.exceptions] == [
            f"tcp://127.0.0.1:{first}",
            f"tcp://127.0.0.2:{second}",
        ]


@pytest.mark.parametrize(
    ("slow", "other"), [("127.0.0.1", "127.0.0.2"), pytest.param("::1", "127.0.0.1", marks=needs_ipv6)]
)
def test_the_one_timeout_covers_every_attempt(
    slow: str, other: str, fake_name: Callable[[list[Candidate]], None]
) -> None:
    with stalling(slow) as port_a, stalling(other) as port_b:
        fake_name([sockaddr(slow, port_a), sockaddr(other, port_b)])
        start = time.monotonic()
        with assert_no_fd_leak(), pytest.raises(TransportTimeout) as info:
            TCPTransport.connect(NAME, 80, timeout=0.6)
        elapsed = time.monotonic() - start
    assert 0.55 <= elapsed < WELL_UNDER, f"gave up after {elapsed:.2f} s, not at the timeout of 0.6 s"
    text = str(info.value)
    assert "timed out (timeout of 0.6 s)" in text
    assert InetAddress(slow, port_a).url("tcp") in text
    assert InetAddress(other, port_b).url("tcp") in text
    assert "Raise the timeout" in text


def test_a_timeout_before_the_last_start_says_what_was_not_tried(
    fake_name: Callable[[list[Candidate]], None],
) -> None:
    with stalling("127.0.0.1") as port:
        fake_name([sockaddr("127.0.0.1", port), sockaddr("127.0.0.2", free_port("127.0.0.2"))])
        with assert_no_fd_leak(), pytest.raises(TransportTimeout) as info:
            TCPTransport.connect(NAME, 80, timeout=0.3, happy_eyeballs_delay=30.0)
    assert "1 more not tried" in str(info.value)


def test_the_source_address_rules_out_the_other_family(fake_name: Callable[[list[Candidate]], None]) -> None:
    if not HAS_IPV6:
        pytest.skip("IPv6 loopback (::1) is not available")
    with answering("::1") as six, answering("127.0.0.1") as four:
        fake_name([sockaddr("::1", six.address.port), sockaddr("127.0.0.1", four.address.port)])
        with assert_no_fd_leak():
            with TCPTransport.connect(NAME, 80, timeout=TIMEOUT, source=InetAddress("127.0.0.1", 0)) as conn:
                assert conn.remote_address == four.address  # binding ::1's socket to 127.0.0.1 failed
                four.accept().close()


def test_a_url_races_too(fake_name: Callable[[list[Candidate]], None]) -> None:
    with stalling("127.0.0.1") as stall_port, answering("127.0.0.2") as listener:
        fake_name([sockaddr("127.0.0.1", stall_port), sockaddr("127.0.0.2", listener.address.port)])
        start = time.monotonic()
        with transports.connect(f"tcp://{NAME}:80", timeout=TIMEOUT) as conn:
            assert time.monotonic() - start < WELL_UNDER
            assert conn.remote_address == listener.address
            listener.accept().close()


def test_without_a_delay_the_addresses_are_tried_in_turn_in_the_resolvers_order(
    fake_name: Callable[[list[Candidate]], None],
) -> None:
    with answering("127.0.0.1") as listener:
        refused = sockaddr("127.0.0.2", free_port("127.0.0.2"))
        fake_name([refused, sockaddr("127.0.0.1", listener.address.port)])
        with TCPTransport.connect(NAME, 80, timeout=TIMEOUT, happy_eyeballs_delay=None) as conn:
            assert conn.remote_address == listener.address
            listener.accept().close()


# -- what does not race ------------------------------------------------------------------------------


@pytest.fixture
def no_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a connect races (one address must be one plain connect)."""

    def forbidden(*args: object) -> Any:
        raise AssertionError("a connect to one address raced")

    monkeypatch.setattr("transports.tcp.connect_first", forbidden)


def test_an_ip_literal_or_a_one_address_name_does_not_race(
    no_race: None, fake_name: Callable[[list[Candidate]], None]
) -> None:
    with answering("127.0.0.1") as listener:
        port = listener.address.port
        fake_name([sockaddr("127.0.0.1", port)])
        for host in ("127.0.0.1", NAME):
            with TCPTransport.connect(host, port, timeout=TIMEOUT) as conn:
                assert conn.remote_address == listener.address
                listener.accept().close()


def test_timeout_zero_still_never_waits(fake_name: Callable[[list[Candidate]], None]) -> None:
    with answering("127.0.0.1") as a, answering("127.0.0.2") as b:
        fake_name([sockaddr("127.0.0.1", a.address.port), sockaddr("127.0.0.2", b.address.port)])
        with assert_no_fd_leak(), pytest.raises(WouldBlock):
            TCPTransport.connect(NAME, 80, timeout=0)


@pytest.mark.parametrize(
    ("delay", "error"),
    [
        (-0.1, ValueError),
        (61.0, ValueError),
        (float("nan"), ValueError),
        (True, TypeError),
        ("0.25", TypeError),
    ],
)
def test_a_bad_delay_is_refused_before_any_system_call(
    delay: Any, error: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> Any:
        raise AssertionError(f"a system call was made: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    monkeypatch.setattr(socket, "socket", forbidden)
    with pytest.raises(error, match="happy_eyeballs_delay"):
        TCPTransport.connect(NAME, 80, timeout=TIMEOUT, happy_eyeballs_delay=delay)


def test_whole_seconds_are_a_delay_too(fake_name: Callable[[list[Candidate]], None]) -> None:
    with answering("127.0.0.1") as listener:
        fake_name([sockaddr("127.0.0.1", listener.address.port), sockaddr("127.0.0.2", 9)])
        with TCPTransport.connect(NAME, 80, timeout=TIMEOUT, happy_eyeballs_delay=1) as conn:
            assert conn.remote_address == listener.address
            listener.accept().close()


def test_dial_error_of_one_address_is_that_addresss_own() -> None:
    dial = Dial([sockaddr("127.0.0.1", 9)], 1.0, "tcp", name=(NAME, 9))
    (attempt,) = list(dial)
    dial.failed(attempt, ConnectionRefusedError(111, "Connection refused"))
    error = dial.error()
    assert isinstance(error, ConnectionRefused)
    assert error.address == "tcp://127.0.0.1:9"
    assert not isinstance(error.__cause__, ExceptionGroup)


# -- listen: one socket, one address -----------------------------------------------------------------


def test_listen_refuses_a_name_with_several_addresses(fake_name: Callable[[list[Candidate]], None]) -> None:
    fake_name([sockaddr("127.0.0.1", 0), sockaddr("127.0.0.2", 0)])
    listens: list[Callable[[], object]] = [
        lambda: TCPListener.listen(NAME, 8080, timeout=TIMEOUT),
        lambda: transports.listen(f"tcp://{NAME}:8080", timeout=TIMEOUT),
    ]
    for listen in listens:
        with assert_no_fd_leak(), pytest.raises(AddressError) as info:
            listen()
        text = str(info.value)
        assert not isinstance(info.value, OSError)  # a caller's choice to make, not a retry
        assert f"listen on tcp://{NAME}:8080" in text
        assert "resolves to 2 addresses (127.0.0.1, 127.0.0.2)" in text
        assert "family='ipv4' or 'ipv6'" in text
        assert "host '' for every local address" in text


def test_listen_takes_a_name_with_one_address(fake_name: Callable[[list[Candidate]], None]) -> None:
    fake_name([sockaddr("127.0.0.2", 0)])
    with TCPListener.listen(NAME, 0, timeout=TIMEOUT) as listener:
        assert listener.address.host == "127.0.0.2"
    fake_name([sockaddr("::1", 0), sockaddr("127.0.0.2", 0)])
    with TCPListener.listen(NAME, 0, family="ipv4", timeout=TIMEOUT) as chosen:  # the advice works
        assert chosen.address.host == "127.0.0.2"
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", 0, 0, socket.SOCK_STREAM)}
    if len(addresses) == 1:  # here localhost is 127.0.0.1 alone; elsewhere it may be ::1 too
        with TCPListener.listen("localhost", 0, timeout=TIMEOUT) as local:
            assert local.address.host in addresses


def test_one_address_says_what_to_do_for_each_operation() -> None:
    two = [sockaddr("127.0.0.1", 53), sockaddr("::1", 53)]
    assert one_address(two[:1], NAME, 53) == two[0]
    assert one_address(two, "", 53) == two[0]  # "" is every local address: the caller's own rule
    with pytest.raises(AddressError, match=r"^bind udp://eyeballs\.invalid:53: .*127\.0\.0\.1, ::1.*host ''"):
        one_address(two, NAME, 53, op="bind", network="udp")
    with pytest.raises(AddressError) as info:
        one_address(two, NAME, 53, op="connect to", network="udp")
    assert "host ''" not in str(info.value)
    assert "pass one of them as the host" in str(info.value)
