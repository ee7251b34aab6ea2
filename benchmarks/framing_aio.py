"""aio ``MessageStream`` request/response against asyncio streams and the sync ``MessageStream``.

One workload, three contenders, in one run: the client sends a 64-byte
message framed by a 4-byte big-endian length and waits for the server to
send it back, *trips* times. Each contender is a client and server pair of
the same kind, the server in a forked process:

* ``streams``: :func:`asyncio.open_connection` / :func:`asyncio.start_server`
  (``StreamReader``/``StreamWriter``), framing written by hand:
  ``writer.write(header + body)``, ``drain()``, ``readexactly(4)``,
  ``readexactly(n)``, the way an asyncio program frames messages without us;
* ``aio``: :class:`transports.aio.MessageStream` on both ends;
* ``sync``: :class:`transports.MessageStream` on both ends, blocking calls.

The two processes are pinned to different CPUs (unpinned, a ping-pong whose
ends migrate swings up to 3x). Contenders alternate run by run and the
report gives medians and the ratios aio/streams (the target is >= 1.2) and
aio/sync. Usage::

    python -m benchmarks.framing_aio [--runs 5] [--trips 20000] [--kind tcp|unix] [--uvloop] [--no-pin] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from typing import Any

from transports import MessageStream, TCPTransport, UnixStreamTransport, aio

PAYLOAD = b"x" * 64
HEADER = struct.Struct("!I")
CONTENDERS = ("streams", "aio", "sync")

_ALL_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
#: Whether to pin the two processes (``--no-pin`` turns it off, to see what a busy machine does to it).
PINNING = [True]


def pin(index: int) -> None:
    """Keep this process on one CPU (the client on the first, the server on the second)."""
    if len(_ALL_CPUS) > 1 and PINNING[0]:
        os.sched_setaffinity(0, {_ALL_CPUS[index % len(_ALL_CPUS)]})


def unpin() -> None:
    if len(_ALL_CPUS) > 1 and PINNING[0]:
        os.sched_setaffinity(0, set(_ALL_CPUS))


def listener(kind: str, directory: str) -> socket.socket:
    if kind == "tcp":
        return socket.create_server(("127.0.0.1", 0))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.path.join(directory, f"bench-{time.monotonic_ns()}.sock"))
    sock.listen(1)
    return sock


def connect(kind: str, address: Any) -> socket.socket:
    sock = socket.socket(socket.AF_INET if kind == "tcp" else socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address)
    if kind == "tcp":
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def accept(lst: socket.socket) -> socket.socket:
    conn, _ = lst.accept()
    lst.close()
    if conn.family != socket.AF_UNIX:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def sync_transport(sock: socket.socket) -> TCPTransport | UnixStreamTransport:
    return TCPTransport(sock) if sock.family != socket.AF_UNIX else UnixStreamTransport(sock)


def aio_transport(sock: socket.socket) -> aio.TCPTransport | aio.UnixStreamTransport:
    return aio.TCPTransport(sock) if sock.family != socket.AF_UNIX else aio.UnixStreamTransport(sock)


# -- the contenders: a server that echoes every message, a client that times the round trips ----------


async def streams_server(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        while True:
            try:
                head = await reader.readexactly(4)
            except asyncio.IncompleteReadError:
                return
            body = await reader.readexactly(HEADER.unpack(head)[0])
            writer.write(head + body)
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def streams_client(sock: socket.socket, trips: int) -> float:
    reader, writer = await asyncio.open_connection(sock=sock)
    frame = HEADER.pack(len(PAYLOAD)) + PAYLOAD
    start = time.perf_counter()
    for _ in range(trips):
        writer.write(frame)
        await writer.drain()
        head = await reader.readexactly(4)
        await reader.readexactly(HEADER.unpack(head)[0])
    elapsed = time.perf_counter() - start
    writer.close()
    await writer.wait_closed()
    return elapsed


async def aio_server(sock: socket.socket) -> None:
    async with aio.MessageStream(aio_transport(sock)) as stream:
        async for message in stream:
            await stream.send_message(message)


async def aio_client(sock: socket.socket, trips: int) -> float:
    async with aio.MessageStream(aio_transport(sock)) as stream:
        send, recv = stream.send_message, stream.recv_message
        start = time.perf_counter()
        for _ in range(trips):
            await send(PAYLOAD)
            await recv()
        return time.perf_counter() - start


def sync_server(sock: socket.socket) -> None:
    with MessageStream(sync_transport(sock)) as stream:
        for message in stream:
            stream.send_message(message)


def sync_client(sock: socket.socket, trips: int) -> float:
    with MessageStream(sync_transport(sock)) as stream:
        send, recv = stream.send_message, stream.recv_message
        start = time.perf_counter()
        for _ in range(trips):
            send(PAYLOAD)
            recv()
        return time.perf_counter() - start


def run_async(coro: Coroutine[Any, Any, Any], uvloop: bool) -> Any:
    factory = None
    if uvloop:
        import uvloop as _uvloop  # only when asked for: it is optional

        factory = _uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def serve(contender: str, sock: socket.socket, uvloop: bool) -> None:
    if contender == "sync":
        sync_server(sock)
    else:
        run_async((streams_server if contender == "streams" else aio_server)(sock), uvloop)


def trip(contender: str, sock: socket.socket, trips: int, uvloop: bool) -> float:
    if contender == "sync":
        return sync_client(sock, trips)
    client: Callable[[socket.socket, int], Coroutine[Any, Any, float]]
    client = streams_client if contender == "streams" else aio_client
    return float(run_async(client(sock, trips), uvloop))


def one_run(contender: str, kind: str, trips: int, directory: str, uvloop: bool) -> float:
    """Round trips per second of one client/server pair, the server in a forked process."""
    lst = listener(kind, directory)
    address = lst.getsockname()
    pid = os.fork()
    if pid == 0:  # the server
        code = 0
        try:
            pin(1)
            serve(contender, accept(lst), uvloop)
        except BaseException:
            code = 1
        os._exit(code)
    lst.close()
    try:
        pin(0)
        elapsed = trip(contender, connect(kind, address), trips, uvloop)
    finally:
        unpin()
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the {contender} server failed")
    return trips / elapsed


def run(runs: int, trips: int, kind: str, uvloop: bool) -> dict[str, float]:
    rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        for _ in range(runs):
            for name in CONTENDERS:  # interleaved within every run
                rates[name].append(one_run(name, kind, trips, directory, uvloop))
    return {name: statistics.median(values) for name, values in rates.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--trips", type=int, default=20000)
    parser.add_argument("--kind", choices=("tcp", "unix"), default="tcp")
    parser.add_argument("--uvloop", action="store_true", help="run both async contenders on uvloop")
    parser.add_argument(
        "--no-pin", action="store_true", help="leave both processes free to move between CPUs"
    )
    parser.add_argument("--json", help="also write the medians and ratios to this file")
    args = parser.parse_args(argv)
    PINNING[0] = not args.no_pin
    medians = run(args.runs, args.trips, args.kind, args.uvloop)
    loop = "uvloop" if args.uvloop else "asyncio"
    pinned = "pinned to two CPUs" if PINNING[0] and len(_ALL_CPUS) > 1 else "not pinned"
    print(
        f"64 B request/response over {args.kind}, {loop}, {pinned}, "
        f"medians of {args.runs} runs of {args.trips} trips"
    )
    for name in CONTENDERS:
        print(f"  {name:8} {medians[name] / 1e3:8.2f} k trips/s")
    ratios = {
        "aio/streams": medians["aio"] / medians["streams"],
        "aio/sync": medians["aio"] / medians["sync"],
    }
    for label, value in ratios.items():
        print(f"  {label:12} {value:6.2f}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            result = {"python": sys.version.split()[0], "loop": loop, "kind": args.kind, "pinned": pinned}
            json.dump({**result, "k_trips_per_s": medians, "ratios": ratios}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
