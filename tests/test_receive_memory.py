"""Memory grows with the bytes that arrive, never with a size asked for (APUE 14.7, 16.5).

A peer sends three bytes and ends (or one 3-byte datagram) while this end
asks for 256 MiB, 2**40 or 2**62 bytes. Each case runs in a process of its
own and reports how much its peak RSS (``ru_maxrss``) grew during the call,
with a 64 MiB control that proves the measurement would have seen a
zero-filled buffer. Before the fix ``recv_exactly(256 MiB)`` grew the peak
by 256 MiB and ``recv(2**40)`` raised a bare MemoryError.
"""

from __future__ import annotations

import sys

import pytest

from peak_rss import run_measured

_CHILD = """
import asyncio
from transports import (
    RecvFlags, UDPTransport, UnexpectedEOF, UnixDatagramTransport, UnixStreamTransport, TCPListener, TCPTransport,
)
from transports import aio


def stream(kind):
    if kind == "unix":
        a, b = UnixStreamTransport.pair()
    else:
        with TCPListener.listen("127.0.0.1", 0) as listener:
            a = TCPTransport.connect("127.0.0.1", listener.address.port, timeout=5)
            b = listener.accept()
    a.send_all(b"abc")
    a.shutdown("write")
    return a, b


def datagram(kind):
    if kind == "unixgram":
        a, b = UnixDatagramTransport.pair()
        a.send(b"abc")
    else:
        b = UDPTransport.bind("127.0.0.1", 0)
        a = UDPTransport.bind("127.0.0.1", 0)
        a.send_to(b"abc", b.local_address)
    return a, b


async def aio_recv_exactly(n):
    a, b = aio.UnixStreamTransport.pair()
    async with a, b:
        b.timeout = 5
        await a.send_all(b"abc")
        a.shutdown("write")
        return await b.recv_exactly(n)


def run(case):
    what, kind, size = case.split(":")
    n = eval(size)  # "2**62" and friends, from the test's own parameters
    if what == "aio_recv_exactly":
        return lambda: asyncio.run(aio_recv_exactly(n)), ()
    if what in ("recv_from", "dgram_recv", "dgram_recv_fds"):
        a, b = datagram(kind)
    else:
        a, b = stream(kind)
    b.timeout = 5
    calls = {
        "recv_exactly": lambda: b.recv_exactly(n),
        "recv_exactly_short_timeout": lambda: (setattr(b, "timeout", 0.5), b.recv_exactly(n))[1],
        "recv": lambda: b.recv(n),
        "recv_waitall": lambda: b.recv(n, RecvFlags.WAITALL),
        "recv_waitall_blocking": lambda: (setattr(b, "timeout", None), b.recv(n, RecvFlags.WAITALL))[1],
        "recv_fds": lambda: b.recv_fds(n, 1).data,
        "dgram_recv_fds": lambda: b.recv_fds(n, 1).data,
        "recv_from": lambda: b.recv_from(n).data,
        "dgram_recv": lambda: b.recv(n),
    }
    return calls[what], (a, b)


def measure(case):
    call, ends = run(case)
    got, grown = grown_kib(call)
    outcome = type(got).__name__ if isinstance(got, Exception) else "data"
    if isinstance(got, UnexpectedEOF):
        got = got.partial
    for end in ends:
        end.close()
    return f"{outcome} {grown} {control_kib()} {got.decode()}"
"""

CASES = [
    ("recv_exactly:unix:256 << 20", "UnexpectedEOF"),
    ("recv_exactly:tcp:256 << 20", "UnexpectedEOF"),
    ("recv_exactly:unix:2**33", "UnexpectedEOF"),
    ("recv_exactly:unix:2**62", "UnexpectedEOF"),
    ("recv_exactly:unix:2**64", "UnexpectedEOF"),
    # A 1 GiB zero-fill before the first receive used to eat the timeout: EOF came out as a timeout.
    ("recv_exactly_short_timeout:unix:1 << 30", "UnexpectedEOF"),
    ("recv:unix:2**40", "data"),
    ("recv:tcp:2**62", "data"),
    ("recv_waitall:unix:256 << 20", "data"),
    ("recv_waitall:tcp:2**40", "data"),
    ("recv_waitall_blocking:unix:256 << 20", "data"),
    ("recv_fds:unix:2**40", "data"),
    ("recv_from:udp:2**62", "data"),
    ("recv_from:unixgram:2**62", "data"),
    ("recv_from:unixgram:256 << 20", "data"),
    ("dgram_recv:unixgram:2**40", "data"),
    ("dgram_recv_fds:unixgram:2**40", "data"),
    ("aio_recv_exactly:unix:256 << 20", "UnexpectedEOF"),
    ("aio_recv_exactly:unix:2**62", "UnexpectedEOF"),
]


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux (bytes on macOS)")
@pytest.mark.parametrize(("case", "outcome"), CASES, ids=[case for case, _ in CASES])
def test_peak_rss_follows_what_arrived(case: str, outcome: str) -> None:
    got_outcome, grown_kib, control_kib, got = run_measured(_CHILD, case).split()
    assert (got_outcome, got) == (outcome, "abc")
    assert int(grown_kib) < 32 * 1024, f"{case}: peak RSS grew by {int(grown_kib) // 1024} MiB"
    assert int(control_kib) >= 48 * 1024, f"the 64 MiB control showed only {control_kib} KiB"
