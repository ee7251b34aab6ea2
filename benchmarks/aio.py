"""Async benchmarks: ``transports.aio`` against asyncio streams, raw ``loop.sock_*``, anyio and trio.

Workloads (each end in its own process, so the GIL is not what we measure):

* bulk: a forked sender process writes N MiB in 256 KiB chunks; this
  process receives into a reused 256 KiB buffer (asyncio streams, which
  have no ``readinto``, read 256 KiB ``bytes``). Both ends use the same
  contender, each in its own event loop. TCP and Unix stream.
* ping-pong: a raw, blocking echo server in a forked process; the contender
  sends 64 bytes and waits for them to come back, TCP (``TCP_NODELAY`` on
  both ends, so Nagle's algorithm never holds an answer back for an ACK)
  and Unix stream.

Contenders: ``ours`` (``send_all``/``recv_into``/``recv_exactly``),
``streams`` (``asyncio.open_connection``: ``write``+``drain``, ``read``,
``readexactly``), ``sock`` (``loop.sock_sendall``, ``loop.sock_recv_into``),
and ``anyio``/``trio`` when they are installed (they are not dependencies;
absent ones are skipped); ``blocking`` is plain blocking ``sendall``,
``recv_into`` and ``recv`` with no event loop, the ceiling any loop can
only approach. Each loop flavour (``asyncio``, and ``uvloop``
when installed) gets its own rows; anyio runs on asyncio, trio on itself.
Contenders alternate within every run, in an order that rotates from run to
run. The report gives each contender's median value and the median of its
per-run ratios to ``sock`` (bulk) or ``streams`` (ping-pong): the issue's
goals are >= 0.95x raw ``loop.sock_*`` on bulk and >= 1.2x asyncio streams
on ping-pong. Usage::

    python -m benchmarks.aio [--runs 5] [--mib 512] [--trips 20000] [--loops asyncio,uvloop] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from transports import aio

CHUNK = 256 * 1024
PING = 64
KINDS = ("tcp", "unix")
BASE_CONTENDERS = ("ours", "streams", "sock", "blocking")
#: What each workload's ratios are taken against (the issue's goals).
BASELINE = {"bulk": "sock", "ping-pong": "streams"}

Address = Any  # a (host, port) tuple or a Unix path


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- sockets and processes ---------------------------------------------------------------------


def _listener(kind: str, directory: str) -> tuple[socket.socket, Address]:
    if kind == "tcp":
        lst = socket.create_server(("127.0.0.1", 0))
        return lst, lst.getsockname()
    path = os.path.join(directory, f"bench-{time.monotonic_ns()}.sock")
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(path)
    lst.listen(1)
    return lst, path


def _connect_raw(kind: str, address: Address) -> socket.socket:
    sock = socket.socket(socket.AF_INET if kind == "tcp" else socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address)
    if kind == "tcp":
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _fork(child: Callable[[], None]) -> int:
    """Run *child* in a forked process that exits when it returns."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child()
        except BaseException:
            code = 1
        os._exit(code)
    return pid


def _reap(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    if status:
        raise RuntimeError(f"benchmark peer process {pid} failed (status {status})")


# -- contenders: one sender and one receiver / pinger each -----------------------------------------

Sender = Callable[[socket.socket, int], Awaitable[None]]
Receiver = Callable[[socket.socket], Awaitable[int]]
Pinger = Callable[[socket.socket, int], Awaitable[None]]


def _ours_stream(sock: socket.socket) -> aio.TCPTransport | aio.UnixStreamTransport:
    if sock.family == socket.AF_UNIX:
        return aio.UnixStreamTransport(sock)
    return aio.TCPTransport(sock)


async def _ours_send(sock: socket.socket, total: int) -> None:
    async with _ours_stream(sock) as transport:
        data = memoryview(bytes(CHUNK))
        send_all = transport.send_all
        for _ in range(total // CHUNK):
            await send_all(data)


async def _ours_recv(sock: socket.socket) -> int:
    async with _ours_stream(sock) as transport:
        buffer = bytearray(CHUNK)
        recv_into = transport.recv_into
        got = 0
        while n := await recv_into(buffer):
            got += n
        return got


async def _ours_ping(sock: socket.socket, trips: int) -> None:
    async with _ours_stream(sock) as transport:
        payload = bytes(PING)
        send_all, recv_exactly = transport.send_all, transport.recv_exactly
        for _ in range(trips):
            await send_all(payload)
            await recv_exactly(PING)


async def _open_stream(sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock.setblocking(False)
    if sock.family == socket.AF_UNIX:
        return await asyncio.open_unix_connection(sock=sock, limit=2 * CHUNK)
    return await asyncio.open_connection(sock=sock, limit=2 * CHUNK)


async def _close_stream(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def _streams_send(sock: socket.socket, total: int) -> None:
    _, writer = await _open_stream(sock)
    data = bytes(CHUNK)
    for _ in range(total // CHUNK):
        writer.write(data)
        await writer.drain()
    await _close_stream(writer)


async def _streams_recv(sock: socket.socket) -> int:
    reader, writer = await _open_stream(sock)
    got = 0
    while data := await reader.read(CHUNK):
        got += len(data)
    await _close_stream(writer)
    return got


async def _streams_ping(sock: socket.socket, trips: int) -> None:
    reader, writer = await _open_stream(sock)
    payload = bytes(PING)
    for _ in range(trips):
        writer.write(payload)
        await writer.drain()
        await reader.readexactly(PING)
    await _close_stream(writer)


async def _sock_send(sock: socket.socket, total: int) -> None:
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    data = memoryview(bytes(CHUNK))
    with sock:
        for _ in range(total // CHUNK):
            await loop.sock_sendall(sock, data)


async def _sock_recv(sock: socket.socket) -> int:
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    buffer = bytearray(CHUNK)
    got = 0
    with sock:
        while n := await loop.sock_recv_into(sock, buffer):
            got += n
    return got


async def _sock_ping(sock: socket.socket, trips: int) -> None:
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    payload = bytes(PING)
    buffer = bytearray(PING)
    with sock, memoryview(buffer) as view:
        for _ in range(trips):
            await loop.sock_sendall(sock, payload)
            got = 0
            while got < PING:
                n = await loop.sock_recv_into(sock, view[got:])
                if not n:
                    raise EOFError("the echo server went away")
                got += n


async def _anyio_stream(sock: socket.socket) -> Any:
    abc = importlib.import_module("anyio.abc")
    cls = abc.UNIXSocketStream if sock.family == socket.AF_UNIX else abc.SocketStream
    return await cls.from_socket(sock)


async def _anyio_send(sock: socket.socket, total: int) -> None:
    async with await _anyio_stream(sock) as stream:
        data = bytes(CHUNK)
        for _ in range(total // CHUNK):
            await stream.send(data)


async def _anyio_recv(sock: socket.socket) -> int:
    end = importlib.import_module("anyio").EndOfStream
    got = 0
    async with await _anyio_stream(sock) as stream:
        try:
            while True:
                got += len(await stream.receive(CHUNK))
        except end:
            pass
    return got


async def _anyio_ping(sock: socket.socket, trips: int) -> None:
    async with await _anyio_stream(sock) as stream:
        payload = bytes(PING)
        for _ in range(trips):
            await stream.send(payload)
            got = 0
            while got < PING:
                got += len(await stream.receive(PING - got))


def _trio_stream(sock: socket.socket) -> Any:
    trio = importlib.import_module("trio")
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


async def _trio_send(sock: socket.socket, total: int) -> None:
    async with _trio_stream(sock) as stream:
        data = bytes(CHUNK)
        for _ in range(total // CHUNK):
            await stream.send_all(data)


async def _trio_recv(sock: socket.socket) -> int:
    got = 0
    async with _trio_stream(sock) as stream:
        while data := await stream.receive_some(CHUNK):
            got += len(data)
    return got


async def _trio_ping(sock: socket.socket, trips: int) -> None:
    async with _trio_stream(sock) as stream:
        payload = bytes(PING)
        for _ in range(trips):
            await stream.send_all(payload)
            got = 0
            while got < PING:
                got += len(await stream.receive_some(PING - got))


async def _blocking_send(sock: socket.socket, total: int) -> None:
    data = memoryview(bytes(CHUNK))
    with sock:
        for _ in range(total // CHUNK):
            sock.sendall(data)


async def _blocking_recv(sock: socket.socket) -> int:
    buffer = bytearray(CHUNK)
    got = 0
    with sock:
        while n := sock.recv_into(buffer):
            got += n
    return got


async def _blocking_ping(sock: socket.socket, trips: int) -> None:
    payload = bytes(PING)
    with sock:
        for _ in range(trips):
            sock.sendall(payload)
            got = len(sock.recv(PING))
            while got < PING:
                got += len(sock.recv(PING - got))


#: name -> (sender, receiver, pinger)
CONTENDERS: dict[str, tuple[Sender, Receiver, Pinger]] = {
    "ours": (_ours_send, _ours_recv, _ours_ping),
    "streams": (_streams_send, _streams_recv, _streams_ping),
    "sock": (_sock_send, _sock_recv, _sock_ping),
    "anyio": (_anyio_send, _anyio_recv, _anyio_ping),
    "trio": (_trio_send, _trio_recv, _trio_ping),
    # No event loop at all: blocking calls, the ceiling a loop can approach.
    "blocking": (_blocking_send, _blocking_recv, _blocking_ping),
}


def _run(flavour: str, contender: str, coro: Callable[[], Awaitable[float]]) -> float:
    """Run *coro* on a fresh loop: trio's own for trio, else the flavour's (anyio runs on asyncio)."""

    async def main() -> float:
        return await coro()

    if contender == "trio":
        result: float = importlib.import_module("trio").run(main)
        return result
    if flavour == "uvloop":
        with asyncio.Runner(loop_factory=importlib.import_module("uvloop").new_event_loop) as runner:
            return runner.run(main())
    return asyncio.run(main())


# -- workloads ------------------------------------------------------------------------------------


def bulk(kind: str, flavour: str, contender: str, total: int, directory: str) -> float:
    """Bytes per second from a forked sender to this process, both ends using *contender*."""
    send, recv, _ = CONTENDERS[contender]
    lst, address = _listener(kind, directory)

    def sender() -> None:
        lst.close()
        sock = _connect_raw(kind, address)

        async def go() -> float:
            await send(sock, total)
            return 0.0

        _run(flavour, contender, go)

    pid = _fork(sender)
    conn, _ = lst.accept()
    lst.close()

    async def receive() -> float:
        start = time.perf_counter()
        got = await recv(conn)
        elapsed = time.perf_counter() - start
        if got != total:
            raise RuntimeError(f"{contender} received {got} of {total} bytes")
        return elapsed

    elapsed = _run(flavour, contender, receive)
    conn.close()
    _reap(pid)
    return total / elapsed


def pingpong(kind: str, flavour: str, contender: str, trips: int, directory: str) -> float:
    """Round trips per second against a raw echo server in a forked process."""
    _, _, ping = CONTENDERS[contender]
    lst, address = _listener(kind, directory)

    def echo() -> None:
        conn, _ = lst.accept()
        lst.close()
        if kind == "tcp":  # Nagle on the echo side would hold some answers back for an ACK
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    pid = _fork(echo)
    lst.close()
    sock = _connect_raw(kind, address)

    async def go() -> float:
        start = time.perf_counter()
        await ping(sock, trips)
        return time.perf_counter() - start

    elapsed = _run(flavour, contender, go)
    sock.close()
    _reap(pid)
    return trips / elapsed


Summary = dict[str, dict[str, dict[str, float]]]


def run(runs: int, mib: int, trips: int, flavours: list[str], workload_names: list[str]) -> Summary:
    """Medians of *runs* interleaved runs, by row (workload, kind, loop) and contender.

    Besides the median value, each contender gets the median of its per-run
    ratios to the row's baseline: a ratio taken within one run compares
    measurements made seconds apart, so load that drifts between runs
    cancels out.
    """
    contenders = {
        flavour: [
            *BASE_CONTENDERS,
            *(["anyio"] if flavour == "asyncio" and _available("anyio") else []),
            *(["trio"] if flavour == "asyncio" and _available("trio") else []),
        ]
        for flavour in flavours
    }
    workloads: list[tuple[str, Callable[[str, str, str, int, str], float], int, float]] = [
        ("bulk", bulk, mib << 20, 2**30),
        ("ping-pong", pingpong, trips, 1e3),
    ]
    samples: dict[str, dict[str, list[float]]] = {}
    ratios: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        for index in range(runs):
            for name, work, amount, unit in workloads:
                if name not in workload_names:
                    continue
                for kind in KINDS:
                    for flavour in flavours:
                        row = f"{name} {kind} {flavour}"
                        names = contenders[flavour]
                        shift = index % len(names)  # rotate who goes first, run by run
                        this_run: dict[str, float] = {}
                        for contender in names[shift:] + names[:shift]:
                            this_run[contender] = work(kind, flavour, contender, amount, directory) / unit
                        base = this_run[BASELINE[name]]
                        for contender, value in this_run.items():
                            samples.setdefault(row, {}).setdefault(contender, []).append(value)
                            ratios.setdefault(row, {}).setdefault(contender, []).append(value / base)
    return {
        row: {
            contender: {
                "value": statistics.median(values),
                "ratio": statistics.median(ratios[row][contender]),
            }
            for contender, values in by.items()
        }
        for row, by in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--trips", type=int, default=20000)
    parser.add_argument("--loops", default="asyncio,uvloop", help="comma-separated: asyncio, uvloop")
    parser.add_argument("--workloads", default="bulk,ping-pong", help="comma-separated: bulk, ping-pong")
    parser.add_argument("--json", help="also write the medians to this file")
    args = parser.parse_args(argv)
    flavours = [f for f in args.loops.split(",") if f == "asyncio" or _available(f)]
    summary = run(args.runs, args.mib, args.trips, flavours, args.workloads.split(","))
    print(f"medians of {args.runs} interleaved runs; bulk in GiB/s, ping-pong in k round trips/s;")
    print("ratio: median per-run ratio to sock (bulk) or to asyncio streams (ping-pong)")
    print(f"{'workload':26} {'contender':10} {'value':>8} {'ratio':>7}")
    for row, by in summary.items():
        for contender, cell in by.items():
            print(f"{row:26} {contender:10} {cell['value']:8.2f} {cell['ratio']:7.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"python": sys.version.split()[0], "results": summary}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
