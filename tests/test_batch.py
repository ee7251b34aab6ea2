"""Batches of datagrams: send_many, recv_many, send_segments (UDP GSO) and GRO receive (APUE 16.5)."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import transports
import transports._core.batch as core_batch
from conftest import HAS_IPV6, TIMEOUT, Background
from transports import (
    Datagram,
    InetAddress,
    MessageTooLarge,
    MessageTruncated,
    NotConnected,
    RecvFlags,
    TransportTimeout,
    UDPTransport,
    UnixAddress,
    UnixDatagramTransport,
    WouldBlock,
)
from transports.batch import MAX_SEGMENTS, SOL_UDP, UDP_GRO, OffloadUnavailable

HOSTS = [
    pytest.param("127.0.0.1", id="ipv4"),
    pytest.param("::1", id="ipv6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")),
]
LINUX_OFFLOAD = pytest.mark.skipif(UDP_GRO is None, reason="UDP_SEGMENT/UDP_GRO are Linux-only")


def _kernel_has_gro() -> bool:
    if UDP_GRO is None:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.setsockopt(SOL_UDP, UDP_GRO, 1)
        except OSError:
            return False
    return True


needs_offload = pytest.mark.skipif(not _kernel_has_gro(), reason="this kernel has no UDP_GRO (Linux 5.0+)")


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def udp_pair(host: str) -> Iterator[tuple[UDPTransport, UDPTransport]]:
    with UDPTransport.bind(host, 0, timeout=TIMEOUT) as a, UDPTransport.bind(host, 0, timeout=TIMEOUT) as b:
        yield a, b


@pytest.fixture
def gro_pair(host: str) -> Iterator[tuple[UDPTransport, UDPTransport]]:
    """A sender and a receiver with UDP receive offload on."""
    if not _kernel_has_gro():
        pytest.skip("this kernel has no UDP_GRO (Linux 5.0+)")
    with (
        UDPTransport.bind(host, 0, timeout=TIMEOUT) as a,
        UDPTransport.bind(host, 0, timeout=TIMEOUT, gro=True) as b,
    ):
        yield a, b


def collect(
    receiver: UDPTransport | UnixDatagramTransport, count: int, max_bytes: int = 1000
) -> list[Datagram]:
    """recv_many until *count* datagrams came; every call returns at least one and waits only for the first."""
    found: list[Datagram] = []
    while len(found) < count:
        got = receiver.recv_many(count - len(found), max_bytes)
        assert 1 <= len(got) <= count - len(found)
        found += got
    return found


def nothing_more(receiver: UDPTransport | UnixDatagramTransport) -> None:
    receiver.timeout = 0
    with pytest.raises(WouldBlock):
        receiver.recv_from(1000)


# -- send_many / recv_many -------------------------------------------------------------------


def test_send_many_to_addresses_and_recv_many(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = udp_pair
    payloads = [bytes([n]) * (n + 1) for n in range(10)]
    assert a.send_many((p, b.local_address) for p in payloads) == 10
    got = collect(b, 10)
    assert [d.data for d in got] == payloads
    assert all(d.address == a.local_address and not d.truncated and d.size == len(d.data) for d in got)
    nothing_more(b)


def test_recv_many_takes_at_most_max_count_and_keeps_order(
    udp_pair: tuple[UDPTransport, UDPTransport],
) -> None:
    a, b = udp_pair
    assert a.send_many([(b"%d" % n, b.local_address) for n in range(5)]) == 5
    first = b.recv_many(2, 100)
    assert 1 <= len(first) <= 2
    rest = collect(b, 5 - len(first), 100)
    assert [d.data for d in first + rest] == [b"0", b"1", b"2", b"3", b"4"]


def test_recv_many_returns_what_is_there_without_waiting_for_max_count(
    udp_pair: tuple[UDPTransport, UDPTransport],
) -> None:
    a, b = udp_pair
    a.send_to(b"only", b.local_address)
    # Waiting for a hundred would end in TransportTimeout: it returns the one there.
    assert [d.data for d in b.recv_many(100, 100)] == [b"only"]


def test_recv_many_reports_truncation_per_datagram(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = udp_pair
    a.send_many([(b"short", b.local_address), (b"x" * 300, b.local_address), (b"end", b.local_address)])
    got = collect(b, 3, max_bytes=10)
    assert [(d.data, d.truncated, d.size) for d in got] == [
        (b"short", False, 5),
        (b"x" * 10, True, 300),
        (b"end", False, 3),
    ]


def test_recv_many_without_timeout_drains_in_one_loop(host: str) -> None:
    # timeout None takes the direct loop (no poll per datagram); same results.
    with UDPTransport.bind(host, 0) as a, UDPTransport.bind(host, 0, timeout=TIMEOUT) as b:
        a.send_many([(b"x" * 50, b.local_address), (b"y" * 5, b.local_address)] * 3)
        b.timeout = None
        got = collect(b, 6, max_bytes=20)
        assert [(d.data, d.truncated, d.size) for d in got] == [
            (b"x" * 20, True, 50),
            (b"y" * 5, False, 5),
        ] * 3
        assert {d.address for d in got} == {a.local_address}


def test_recv_many_times_out_when_nothing_comes(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    _, b = udp_pair
    b.timeout = 0.05
    with pytest.raises(TransportTimeout):
        b.recv_many(10, 100)
    b.timeout = 0
    with pytest.raises(WouldBlock):
        b.recv_many(10, 100)


@pytest.mark.parametrize(
    ("count", "size", "error"),
    [
        (0, 10, ValueError),
        (-1, 10, ValueError),
        (True, 10, TypeError),
        (1.5, 10, TypeError),
        (1, -1, ValueError),
    ],
)
def test_recv_many_refuses_bad_sizes(
    udp_pair: tuple[UDPTransport, UDPTransport], count: object, size: int, error: type[Exception]
) -> None:
    _, b = udp_pair
    with pytest.raises(error):
        b.recv_many(count, size)  # type: ignore[arg-type]  # the bad values under test


def test_send_many_on_a_connected_socket_takes_bare_data(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = udp_pair
    addr = b.local_address
    with UDPTransport.connect(addr.host, addr.port, timeout=TIMEOUT) as c:
        assert c.send_many([b"one", memoryview(b"two"), bytearray(b"three")]) == 3
        assert [d.data for d in collect(b, 3)] == [b"one", b"two", b"three"]
        # Mixed entries: a pair goes where it says.
        assert c.send_many([b"peer", (b"other", a.local_address)]) == 2
        assert b.recv_from(100).data == b"peer"
        assert a.recv_from(100).data == b"other"


def test_send_many_raises_when_the_first_fails_and_counts_when_a_later_one_does(
    udp_pair: tuple[UDPTransport, UDPTransport], host: str
) -> None:
    a, b = udp_pair
    big = b"z" * (a.max_message_size + 1)
    with pytest.raises(MessageTooLarge):
        a.send_many([(big, b.local_address), (b"never", b.local_address)])
    batch = [(b"sent", b.local_address), (big, b.local_address), (b"not sent", b.local_address)]
    assert a.send_many(batch) == 1
    assert [d.data for d in b.recv_many(10, 100)] == [b"sent"]
    nothing_more(b)


def test_send_many_refuses_a_bad_entry(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = udp_pair
    with pytest.raises(TypeError, match="3-tuple"):
        a.send_many([(b"x", b.local_address, 1)])  # type: ignore[list-item]  # the bad entry under test
    assert a.send_many([]) == 0


def test_unix_datagram_batches(tmp_sock_dir: Path) -> None:
    with (
        UnixDatagramTransport.bind(str(tmp_sock_dir / "a"), timeout=TIMEOUT) as a,
        UnixDatagramTransport.bind(str(tmp_sock_dir / "b"), timeout=TIMEOUT) as b,
    ):
        assert (
            a.send_many([(b"m%d" % n, b.local_address) for n in range(4)] + [(b"x" * 40, b.local_address)])
            == 5
        )
        got = collect(b, 5, max_bytes=8)
        assert [(d.data, d.truncated, d.size) for d in got[:4]] == [(b"m%d" % n, False, 2) for n in range(4)]
        assert (got[4].data, got[4].truncated, got[4].size) == (b"x" * 8, True, 40)
        assert {d.address for d in got} == {a.local_address}
        with UnixDatagramTransport.connect(str(tmp_sock_dir / "b"), timeout=TIMEOUT) as c:
            assert c.send_many([b"p", b"q"]) == 2
            got = collect(b, 2)
            assert [d.data for d in got] == [b"p", b"q"]
            assert got[0].address == c.local_address
        b.timeout = None
        a.send_many([(b"direct", b.local_address)] * 3)
        assert [d.data for d in collect(b, 3)] == [b"direct"] * 3


# -- send_segments (UDP segmentation offload) --------------------------------------------------


@needs_offload
@pytest.mark.parametrize(
    ("total", "segment"), [(64 * 64, 64), (200, 64), (1, 1), (MAX_SEGMENTS, 1), (8000, 1400)]
)
def test_send_segments_arrive_as_separate_datagrams(
    udp_pair: tuple[UDPTransport, UDPTransport], total: int, segment: int
) -> None:
    a, b = udp_pair
    data = bytes(n % 251 for n in range(total))
    assert a.send_segments(data, segment, b.local_address) == total
    expected = [data[at : at + segment] for at in range(0, total, segment)]
    got = collect(b, len(expected), max_bytes=2000)
    assert [d.data for d in got] == expected
    assert all(d.address == a.local_address and not d.truncated for d in got)
    nothing_more(b)


@needs_offload
def test_send_segments_to_the_connected_peer(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = udp_pair
    with UDPTransport.connect(b.local_address.host, b.local_address.port, timeout=TIMEOUT) as c:
        assert c.send_segments(b"abcdefg", 3) == 7
        assert [d.data for d in collect(b, 3)] == [b"abc", b"def", b"g"]
    with pytest.raises(NotConnected):
        a.send_segments(b"abc", 1)


def test_send_segments_checks_sizes_before_any_call(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = udp_pair
    limit = a.max_message_size
    to = b.local_address
    with pytest.raises(ValueError, match="segment_size must be between 1"):
        a.send_segments(b"abc", 0, to)
    with pytest.raises(ValueError, match="segment_size must be between 1"):
        a.send_segments(b"abc", limit + 1, to)
    with pytest.raises(ValueError, match="empty"):
        a.send_segments(b"", 10, to)
    with pytest.raises(ValueError, match=f"{MAX_SEGMENTS + 1} datagrams"):
        a.send_segments(b"x" * (MAX_SEGMENTS + 1), 1, to)
    with pytest.raises(ValueError, match="more than one segmented send"):
        a.send_segments(b"x" * (limit + 1), 1400, to)
    with pytest.raises(TypeError):
        a.send_segments(b"abc", True, to)
    nothing_more(b)


@needs_offload
def test_send_segments_largest_send(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = udp_pair
    limit = a.max_message_size
    segment = -(-limit // MAX_SEGMENTS)
    data = bytes(n % 256 for n in range(limit))
    assert a.send_segments(data, segment, b.local_address) == limit
    got = collect(b, -(-limit // segment), max_bytes=segment)
    assert b"".join(d.data for d in got) == data


def test_send_segments_without_offload_refuses_or_falls_back(
    udp_pair: tuple[UDPTransport, UDPTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = udp_pair
    monkeypatch.setattr(core_batch, "UDP_SEGMENT", None)  # a platform without it
    with pytest.raises(OffloadUnavailable, match="UDP_SEGMENT") as caught:
        a.send_segments(b"abcdef", 2, b.local_address)
    assert isinstance(caught.value, OSError)
    nothing_more(b)
    b.timeout = TIMEOUT
    assert a.send_segments(b"abcdef", 4, b.local_address, fallback=True) == 6
    assert [d.data for d in collect(b, 2)] == [b"abcd", b"ef"]


class _NoGso(socket.socket):
    """A socket whose kernel refuses the UDP_SEGMENT control message, as kernels before 4.18 do."""

    def sendmsg(self, *args: object, **kwargs: object) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")


def test_a_kernel_refusing_segmentation_is_reported(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    _, b = udp_pair
    with UDPTransport.from_socket(_NoGso(b.raw_socket.family, socket.SOCK_DGRAM)) as old:
        with pytest.raises(OffloadUnavailable, match="refused UDP_SEGMENT"):
            old.send_segments(b"abcd", 2, b.local_address)
        old.timeout = TIMEOUT
        assert old.send_segments(b"abcd", 2, b.local_address, fallback=True) == 4
        assert [d.data for d in collect(b, 2)] == [b"ab", b"cd"]


# -- GRO receive -----------------------------------------------------------------------------------


def test_gro_is_off_unless_asked(udp_pair: tuple[UDPTransport, UDPTransport]) -> None:
    _, b = udp_pair
    if UDP_GRO is not None:
        assert b.raw_socket.getsockopt(SOL_UDP, UDP_GRO) == 0


def test_gro_segments_come_back_one_datagram_each(gro_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = gro_pair
    assert b.raw_socket.getsockopt(SOL_UDP, UDP_GRO or 0) == 1
    data = bytes(range(200))
    a.send_segments(data, 64, b.local_address)
    # recv_from hands out one datagram a call and keeps the rest of the coalesced buffer.
    got = [b.recv_from(100) for _ in range(4)]
    assert [d.data for d in got] == [data[0:64], data[64:128], data[128:192], data[192:]]
    assert [d.size for d in got] == [64, 64, 64, 8]
    assert all(d.address == a.local_address and not d.truncated for d in got)
    nothing_more(b)


def test_gro_recv_many_splits_and_keeps_the_rest(gro_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = gro_pair
    data = bytes(n % 256 for n in range(64 * 64))
    a.send_segments(data, 64, b.local_address)
    first = b.recv_many(10, 64)
    assert len(first) == 10  # one coalesced buffer holds them all
    rest = collect(b, 54, max_bytes=64)
    assert b"".join(d.data for d in first + rest) == data
    assert all(d.size == 64 and not d.truncated for d in first + rest)
    nothing_more(b)


def test_gro_truncates_each_segment_on_its_own(gro_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = gro_pair
    a.send_segments(b"a" * 100 + b"b" * 100 + b"c" * 30, 100, b.local_address)
    got = b.recv_many(10, 50)
    assert [(d.data, d.truncated, d.size) for d in got] == [
        (b"a" * 50, True, 100),
        (b"b" * 50, True, 100),
        (b"c" * 30, False, 30),
    ]


def test_gro_recv_and_recv_into(gro_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = gro_pair
    a.send_segments(b"0123456789", 4, b.local_address)
    assert b.recv(10) == b"0123"
    buffer = bytearray(10)
    assert b.recv_into(buffer) == 4
    assert buffer[:4] == b"4567"
    with pytest.raises(MessageTruncated) as caught:
        b.recv(1)
    assert (caught.value.data, caught.value.size) == (b"8", 2)


def test_gro_plain_datagrams_and_peek(gro_pair: tuple[UDPTransport, UDPTransport]) -> None:
    a, b = gro_pair
    a.send_to(b"plain", b.local_address)
    assert b.recv_from(100, RecvFlags.PEEK).data == b"plain"
    assert b.recv_from(100).data == b"plain"
    a.send_segments(b"xxyyz", 2, b.local_address)
    assert b.recv_from(100, RecvFlags.PEEK).data == b"xx"
    assert b.recv_from(100).data == b"xx"
    assert b.recv_from(100, RecvFlags.PEEK).data == b"yy"  # from the kept rest
    assert [d.data for d in b.recv_many(5, 100)] == [b"yy", b"z"]
    b.timeout = 0
    with pytest.raises(WouldBlock):
        b.recv_from(100, RecvFlags.DONTWAIT)


def test_gro_is_kept_by_from_socket(host: str) -> None:
    if not _kernel_has_gro():
        pytest.skip("this kernel has no UDP_GRO")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_DGRAM)
    raw.bind((host, 0))
    raw.setsockopt(SOL_UDP, UDP_GRO or 0, 1)
    with UDPTransport.from_socket(raw) as b, UDPTransport.bind(host, 0, timeout=TIMEOUT) as a:
        b.timeout = TIMEOUT
        a.send_segments(b"aabbcc", 2, b.local_address)
        assert [b.recv_from(10).data for _ in range(3)] == [b"aa", b"bb", b"cc"]


def test_gro_unavailable_is_refused_and_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_batch, "UDP_GRO", None)
    with pytest.raises(OffloadUnavailable, match="UDP_GRO"):
        UDPTransport.bind("127.0.0.1", 0, gro=True)


# -- the sans-IO steps -------------------------------------------------------------------------


def test_split_reports_what_the_buffer_could_not_hold() -> None:
    sender = InetAddress("127.0.0.1", 9)
    view = memoryview(b"aaabbbc" + b"\0" * 9)
    whole = core_batch.split_coalesced(view, 7, 7, 3, sender)
    assert [(d.data, d.truncated, d.size) for d in whole] == [
        (b"aaa", False, 3),
        (b"bbb", False, 3),
        (b"c", False, 1),
    ]
    cut = core_batch.split_coalesced(view, 4, 10, 3, sender)
    assert [(d.data, d.truncated, d.size) for d in cut] == [
        (b"aaa", False, 3),
        (b"b", True, 3),
        (b"", True, 3),
        (b"", True, 1),
    ]
    single = core_batch.split_coalesced(view, 7, 7, None, sender)
    assert [(d.data, d.truncated, d.size) for d in single] == [(b"aaabbbc", False, 7)]
    empty = core_batch.split_coalesced(view, 0, 0, None, UnixAddress(""))
    assert [(d.data, d.truncated, d.size) for d in empty] == [(b"", False, 0)]


def test_gro_control_message_is_read_as_an_int() -> None:
    if UDP_GRO is None:
        pytest.skip("no UDP_GRO here")
    assert core_batch.gro_segment([(SOL_UDP, UDP_GRO, (1400).to_bytes(4, sys.byteorder))]) == 1400
    assert core_batch.gro_segment([(socket.SOL_SOCKET, 1, b"\0\0\0\0")]) is None


def test_segment_checks() -> None:
    assert core_batch.check_segments(b"x" * 129, 64, 65507) == (129, 3)
    assert core_batch.check_segments(b"x" * 64, 1, 65507) == (64, 64)
    if UDP_GRO is not None:
        assert core_batch.segment_control(1400) == [(SOL_UDP, 103, (1400).to_bytes(2, sys.byteorder))]


def test_unix_recv_many_takes_every_queued_datagram_in_one_call(
    tmp_sock_dir: Path, abstract_name: str
) -> None:
    # A Unix datagram send queues the message before it returns: all ten are there at once.
    with (
        UnixDatagramTransport.bind(UnixAddress(abstract_name, abstract=True), timeout=TIMEOUT) as named,
        UnixDatagramTransport.bind(str(tmp_sock_dir / "r"), timeout=TIMEOUT) as b,
    ):
        for timeout in (TIMEOUT, None):
            b.timeout = timeout
            named.send_many([(b"%02d" % n + b"." * n, b.local_address) for n in range(10)])
            got = b.recv_many(10, 5)
            assert [(d.data, d.truncated, d.size) for d in got] == [
                ((b"%02d" % n + b"." * n)[:5], n > 3, n + 2) for n in range(10)
            ]
            assert {d.address for d in got} == {named.local_address}


def test_unnamed_senders_are_reported_as_such() -> None:
    a, b = transports.socketpair("datagram")
    with a, b:
        b.timeout = TIMEOUT
        assert a.send_many([b"1", b"2", b"3", b"4", b"5"]) == 5
        got = b.recv_many(5, 10)
        assert [d.data for d in got] == [b"1", b"2", b"3", b"4", b"5"]
        assert {d.address for d in got} == {UnixAddress("")}


def test_python_sockaddr_decodes_what_the_kernel_writes() -> None:
    from transports._core.mmsg import python_sockaddr

    raw4 = (
        socket.AF_INET.to_bytes(2, sys.byteorder)
        + (5353).to_bytes(2, "big")
        + bytes([127, 0, 0, 1])
        + bytes(8)
    )
    assert python_sockaddr(raw4) == ("127.0.0.1", 5353)
    raw6 = (
        socket.AF_INET6.to_bytes(2, sys.byteorder)
        + (80).to_bytes(2, "big")
        + bytes(4)
        + socket.inet_pton(socket.AF_INET6, "::1")
        + (0).to_bytes(4, sys.byteorder)
    )
    assert python_sockaddr(raw6) == ("::1", 80, 0, 0)
    unix = socket.AF_UNIX.to_bytes(2, sys.byteorder)
    assert python_sockaddr(unix + b"/run/x.sock\0") == "/run/x.sock"
    assert python_sockaddr(unix + b"\0name") == b"\0name"
    assert python_sockaddr(unix) is None


def test_recv_many_with_changing_sizes_and_threads(background: Background) -> None:
    with UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as a, UDPTransport.bind("127.0.0.1", 0) as b:
        b.raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # room for all: no drop
        assert a.send_many([(b"%03d" % n + b"-" * 60, b.local_address) for n in range(160)]) == 160
        b.timeout = TIMEOUT
        small = b.recv_many(8, 3)
        assert [d.data for d in small] == [b"%03d" % n for n in range(len(small))]
        assert all(d.truncated and d.size == 63 for d in small)
        rest = 160 - len(small)
        # Two threads drain the rest at once: each datagram comes out whole, exactly once.
        tasks = [background.start(lambda: collect(b, rest // 2, max_bytes=100)) for _ in range(2)]
        got = [d.data for task in tasks for d in task.result()]
        got += [d.data for d in collect(b, rest - len(got), max_bytes=100)]
        assert sorted(got) == [b"%03d" % n + b"-" * 60 for n in range(len(small), 160)]


def test_gro_threads_share_the_kept_datagrams(
    gro_pair: tuple[UDPTransport, UDPTransport], background: Background
) -> None:
    a, b = gro_pair
    data = bytes(n % 256 for n in range(64 * 50))
    for _ in range(4):
        a.send_segments(data, 50, b.local_address)

    def take(count: int) -> list[bytes]:
        return [b.recv_from(100).data for _ in range(count)]

    tasks = [background.start(lambda: take(64)) for _ in range(2)]
    got = [piece for task in tasks for piece in task.result()] + [d.data for d in collect(b, 128, 100)]
    expected = [data[at : at + 50] for at in range(0, len(data), 50)] * 4
    assert sorted(got) == sorted(expected)


def test_ctypes_is_imported_only_by_a_batch_receive() -> None:
    """recvmmsg comes through ctypes, whose import costs milliseconds: a UDP socket alone must not pay it."""
    program = (
        "import json, sys, transports\n"
        "u = transports.UDPTransport.bind('127.0.0.1', 0, timeout=5)\n"
        "u.send_to(b'x', u.local_address)\n"
        "before = 'ctypes' in sys.modules\n"
        "got = u.recv_many(8, 100)\n"
        "u.close()\n"
        "print(json.dumps([before, len(got), 'ctypes' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], check=True, capture_output=True, text=True, timeout=60
    )
    before, count, after = json.loads(out.stdout)
    assert (before, count) == (False, 1)
    assert after == sys.platform.startswith("linux")
