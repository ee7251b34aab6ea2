"""Framing memory follows the bytes that arrived, not the size a peer announced (issue 13 point 3; issue 15 item 1 on aio).

Each case runs in a fresh process (tests/peak_rss.py: a fork of a fresh
interpreter, since a peak carries over ``exec``) and reads its peak
resident set size with ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` before
and after the receive: the growth is what the receive cost at its worst. A
64 MiB control shows the measurement would see a full-size buffer.
Before the fix, a header announcing N bytes made ``recv_message`` reserve
and zero-fill N bytes at once, so four bytes from a peer cost up to
``max_size`` each: the cases below grew by 256 MiB and 512 MiB.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from peak_rss import run_measured

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KiB on Linux")

MiB = 1 << 20
#: What a receive may add to the peak, in bytes, in every case here.
BOUND = 32 * MiB

_CHILD = """
import json, struct
from transports import LineStream, MessageStream, TransportTimeout, UnexpectedEOF, socketpair
from transports.framing import DEFAULT_MAX_SIZE

def peak():
    return peak_kib() * 1024

def warm_up():
    # Lazy imports, first exceptions, allocator arenas: all before the baseline.
    a, b = socketpair()
    with a, b:
        b.timeout = 5
        MessageStream(a).send_message(b"x" * 100_000)
        a.send_all(struct.pack("!I", 10) + b"abc" + b"line\\nhalf")
        a.shutdown("write")
        stream = MessageStream(b)
        stream.recv_message()
        try:
            stream.recv_message()
        except UnexpectedEOF:
            pass
    a, b = socketpair()
    with a, b:
        b.timeout = 0.01
        try:
            LineStream(b).recv_message()
        except TransportTimeout:
            pass

warm_up()

import asyncio
from transports import aio


async def aio_warm_up():
    a, b = aio.socketpair()
    async with a, b:
        b.timeout = 5
        await aio.MessageStream(a).send_message(b"x" * 100_000)
        await a.send_all(struct.pack("!I", 10) + b"abc")
        a.shutdown("write")
        stream = aio.MessageStream(b)
        await stream.recv_message()
        try:
            await stream.recv_message()
        except UnexpectedEOF:
            pass
    a, b = aio.socketpair()
    async with a, b:
        b.timeout = 0.01
        try:
            await aio.LineStream(b).recv_message()
        except TransportTimeout:
            pass

asyncio.run(aio_warm_up())
"""

_CASES = {
    # A peer announces 256 MiB (the limit raised to 1 GiB), sends 4 bytes, and leaves.
    "message-cut": """
        a, b = socketpair()
        b.timeout = 5
        a.send_all(struct.pack("!I", 256 << 20) + b"abcd")
        a.close()
        stream = MessageStream(b, max_size=1 << 30)
        before = peak()
        try:
            stream.recv_message()
        except UnexpectedEOF as exc:
            if (exc.partial, exc.expected) != (b"abcd", 256 << 20):
                problems.append(repr(exc))
        else:
            problems.append("no UnexpectedEOF")
        after = peak()
        b.close()
    """,
    # 32 idle peers, each announcing the default limit (16 MiB) and dripping a few bytes:
    # every receive times out with what arrived kept, twice, on every stream.
    "message-drip": """
        pairs = [socketpair() for _ in range(32)]
        streams = []
        for a, b in pairs:
            b.timeout = 0.01
            a.send_all(struct.pack("!I", DEFAULT_MAX_SIZE) + b"x" * 100)
            streams.append(MessageStream(b))
        before = peak()
        for drip in (100, 1000):
            for (a, _), stream in zip(pairs, streams):
                try:
                    stream.recv_message()
                except TransportTimeout as exc:
                    if f"after {drip} of the {DEFAULT_MAX_SIZE} bytes" not in str(exc):
                        problems.append(str(exc))
                else:
                    problems.append("no TransportTimeout")
                a.send_all(b"y" * 900)
        after = peak()
        for a, b in pairs:
            a.close()
            b.close()
    """,
    # The same for lines: a limit of 256 MiB is never what is reserved.
    "line-cut": """
        a, b = socketpair()
        b.timeout = 5
        a.send_all(b"abcd")
        a.close()
        stream = LineStream(b, max_length=256 << 20)
        before = peak()
        try:
            stream.recv_message()
        except UnexpectedEOF as exc:
            if exc.partial != b"abcd":
                problems.append(repr(exc))
        else:
            problems.append("no UnexpectedEOF")
        after = peak()
        b.close()
    """,
    "line-drip": """
        pairs = [socketpair() for _ in range(32)]
        streams = []
        for a, b in pairs:
            b.timeout = 0.01
            a.send_all(b"x" * 100)
            streams.append(LineStream(b, max_length=DEFAULT_MAX_SIZE))
        before = peak()
        for drip in (100, 1000):
            for (a, _), stream in zip(pairs, streams):
                try:
                    stream.recv_message()
                except TransportTimeout as exc:
                    if f"with {drip} bytes of a line" not in str(exc):
                        problems.append(str(exc))
                else:
                    problems.append("no TransportTimeout")
                a.send_all(b"y" * 900)
        after = peak()
        for a, b in pairs:
            a.close()
            b.close()
    """,
    # The async face: the same peers, the receives awaited on an event loop.
    "aio-message-cut": """
        async def cut():
            a, b = aio.socketpair()
            b.timeout = 5
            await a.send_all(struct.pack("!I", 256 << 20) + b"abcd")
            a.close()
            stream = aio.MessageStream(b, max_size=1 << 30)
            before = peak()
            try:
                await stream.recv_message()
            except UnexpectedEOF as exc:
                if (exc.partial, exc.expected) != (b"abcd", 256 << 20):
                    problems.append(repr(exc))
            else:
                problems.append("no UnexpectedEOF")
            after = peak()
            b.close()
            return before, after
        before, after = asyncio.run(cut())
    """,
    "aio-message-drip": """
        async def drip():
            pairs = [aio.socketpair() for _ in range(32)]
            streams = []
            for a, b in pairs:
                b.timeout = 0.01
                await a.send_all(struct.pack("!I", DEFAULT_MAX_SIZE) + b"x" * 100)
                streams.append(aio.MessageStream(b))
            before = peak()
            for drip in (100, 1000):
                for (a, _), stream in zip(pairs, streams):
                    try:
                        await stream.recv_message()
                    except TransportTimeout as exc:
                        if f"after {drip} of the {DEFAULT_MAX_SIZE} bytes" not in str(exc):
                            problems.append(str(exc))
                    else:
                        problems.append("no TransportTimeout")
                    await a.send_all(b"y" * 900)
            after = peak()
            for a, b in pairs:
                a.close()
                b.close()
            return before, after
        before, after = asyncio.run(drip())
    """,
    "aio-line-drip": """
        async def drip():
            pairs = [aio.socketpair() for _ in range(32)]
            streams = []
            for a, b in pairs:
                b.timeout = 0.01
                await a.send_all(b"x" * 100)
                streams.append(aio.LineStream(b, max_length=DEFAULT_MAX_SIZE))
            before = peak()
            for drip in (100, 1000):
                for (a, _), stream in zip(pairs, streams):
                    try:
                        await stream.recv_message()
                    except TransportTimeout as exc:
                        if f"with {drip} bytes of a line" not in str(exc):
                            problems.append(str(exc))
                    else:
                        problems.append("no TransportTimeout")
                    await a.send_all(b"y" * 900)
            after = peak()
            for a, b in pairs:
                a.close()
                b.close()
            return before, after
        before, after = asyncio.run(drip())
    """,
}


def peak_growth(case: str) -> int:
    """Run *case* in a fresh process; check its receives added less than BOUND to the peak RSS."""
    body = textwrap.indent(textwrap.dedent(_CASES[case]), "    ")
    measure = (
        "def measure(_case):\n"
        "    problems = []  # what went wrong besides memory, reported after the growth\n"
        f"{body}\n"
        "    return json.dumps([after - before, problems, control_kib()])\n"
    )
    out = run_measured(_CHILD + measure, case, warnings_are_errors=True)
    growth, problems, control_kib = json.loads(out.splitlines()[-1])
    assert control_kib >= 48 * 1024, f"the 64 MiB control showed only {control_kib} KiB"
    assert growth < BOUND, f"{case}: peak RSS grew by {growth / MiB:.1f} MiB"
    assert not problems, f"{case}: {problems}"
    return int(growth)


@pytest.mark.parametrize("case", ["message-cut", "message-drip"])
def test_message_stream_memory_follows_the_bytes_that_arrived(case: str) -> None:
    peak_growth(case)


@pytest.mark.parametrize("case", ["line-cut", "line-drip"])
def test_line_stream_memory_follows_the_bytes_that_arrived(case: str) -> None:
    # LineStream grew with the bytes that arrived already: this keeps it so.
    peak_growth(case)


@pytest.mark.parametrize("case", ["aio-message-cut", "aio-message-drip", "aio-line-drip"])
def test_aio_streams_memory_follows_the_bytes_that_arrived(case: str) -> None:
    # The async face drives the same codecs: a peer's announcement costs no more there.
    peak_growth(case)
