"""TLS benchmarks: ``transports.tls`` against the stdlib, asyncio streams, uvloop, trio and anyio.

Three workloads over loopback TCP, each client and server pair of one
contender, the server in a forked process; the two processes are pinned to
different CPUs (unpinned, a ping-pong whose ends migrate swings up to 3x):

* bulk: the server sends N MiB in 256 KiB pieces, the client receives into
  a reused 256 KiB buffer; the clock runs from the end of the handshake to
  the last byte;
* request/response: the client sends 1 KiB and waits for the server's echo
  of it, *trips* times (``TCP_NODELAY`` on both ends);
* handshakes: TCP connect, TLS handshake, close, *count* times in a row.

Sync contenders: ``ours`` (:class:`transports.TLSTransport` over a
:class:`transports.TCPTransport`: ``send_all``, ``recv_into``) and
``stdlib`` (:class:`ssl.SSLSocket`: ``sendall``, ``recv_into``). Async
contenders (bulk and request/response): ``aio``
(:class:`transports.aio.TLSTransport` over a
:class:`transports.aio.TCPTransport`), ``streams`` (asyncio streams with
``ssl=``), ``uvloop`` (the same streams on uvloop), ``trio``
(``trio.SSLStream``) and ``anyio`` (``anyio.streams.tls.TLSStream`` on
asyncio), the last three when installed.

Both ends of every contender use the same context: TLS 1.3 pinned (its
server picks TLS_AES_256_GCM_SHA384 on OpenSSL's defaults), or with
``--tls 1.2`` the one cipher ECDHE-ECDSA-AES128-GCM-SHA256; the cipher each
client agreed is checked to be that one. The certificates come from
``trustme`` (a dev dependency) and live in a temporary directory for the
run. Contenders alternate within every run, in an order that rotates run by
run; the report gives medians and the median of the per-run ratios (ours to
stdlib, aio to asyncio streams), of the rate and of the client's CPU time
per unit of work (steadier than the rate on a busy machine), with the load
average at the start of each run.
Usage::

    python -m benchmarks.tls [--runs 5] [--mib 256] [--trips 10000] [--handshakes 300]
                             [--tls 1.3|1.2] [--only bulk,rr,handshake] [--no-async] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from transports import TCPTransport
from transports.errors import TransportError
from transports.tls import TLSTransport

T = TypeVar("T")

CHUNK = 256 * 1024
REQUEST = 1024
HOST = "localhost"  # the name the server's certificate carries
CIPHERS = {"1.3": "TLS_AES_256_GCM_SHA384", "1.2": "ECDHE-ECDSA-AES128-GCM-SHA256"}
SYNC_CONTENDERS = ("ours", "stdlib")
#: The contender every other one of its face is compared with.
BASELINE = {"sync": "stdlib", "async": "streams"}

_ALL_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pin(index: int) -> None:
    """Keep this process on one CPU: the client on the first, the server on the second."""
    if len(_ALL_CPUS) > 1:
        os.sched_setaffinity(0, {_ALL_CPUS[index % len(_ALL_CPUS)]})


def unpin() -> None:
    if len(_ALL_CPUS) > 1:
        os.sched_setaffinity(0, set(_ALL_CPUS))


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- certificates and contexts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Contexts:
    """The two ends' contexts and the cipher they must agree on."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    cipher: str


def make_contexts(directory: str, version: str) -> Contexts:
    """A throwaway CA (trustme), a certificate for localhost, and both ends' contexts pinned to one cipher."""
    try:
        import trustme
    except ImportError:
        sys.exit("benchmarks.tls needs trustme to make its certificates: pip install trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert(HOST, "127.0.0.1")
    cafile, chain = os.path.join(directory, "ca.pem"), os.path.join(directory, "server.pem")
    ca.cert_pem.write_to_path(cafile)
    leaf.private_key_and_cert_chain_pem.write_to_path(chain)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(chain)
    client = ssl.create_default_context(cafile=cafile)
    for context in (server, client):
        if version == "1.3":
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
        else:
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(CIPHERS["1.2"])
    return Contexts(server, client, CIPHERS[version])


# -- processes -------------------------------------------------------------------------------------


def fork(child: Callable[[], None]) -> int:
    """Run *child* pinned to the second CPU in a forked process that exits when it returns."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            pin(1)
            child()
        except BaseException:
            code = 1
        os._exit(code)
    return pid


def reap(pid: int, what: str) -> None:
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the {what} server process failed (status {status})")


def nodelay(sock: socket.socket) -> socket.socket:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve_one(server: Callable[[socket.socket], None]) -> tuple[int, Any]:
    """Fork a process that accepts one connection and runs *server* on it; return its pid and address."""
    lst = socket.create_server(("127.0.0.1", 0))

    def child() -> None:
        conn, _ = lst.accept()
        lst.close()
        server(conn)

    pid = fork(child)
    address = lst.getsockname()
    lst.close()
    return pid, address


class Sample(NamedTuple):
    """One measurement: the rate, and the client's CPU time per unit of work in microseconds."""

    rate: float
    cpu_us: float


class Clock:
    """Wall and CPU time of the client's timed loop (the handshake and the loop's setup left out)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def sample(self, amount: float) -> Sample:
        """The rate of *amount* units in the time since this clock started, and the CPU per unit."""
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return Sample(amount / wall, cpu / amount * 1e6)


def as_client(measure: Callable[[], Sample], pid: int, what: str) -> Sample:
    """Run *measure* pinned to the first CPU, then reap the server."""
    try:
        pin(0)
        return measure()
    finally:
        unpin()
        reap(pid, what)


# -- the sync contenders: the same loops, each library's own calls -------------------------------------


class Ends(NamedTuple):
    """One sync TLS connection's calls, taken once before the loop (no wrapper in the timed path)."""

    send_all: Callable[[bytes | memoryview], object]
    recv_into: Callable[[memoryview], int]
    recv: Callable[[int], bytes]
    close: Callable[[], None]
    cipher: Callable[[], tuple[str, str, int] | None]


def open_sync(contender: str, sock: socket.socket, contexts: Contexts, server: bool) -> Ends:
    """Run the handshake over *sock* as *contender*'s client or server."""
    context = contexts.server if server else contexts.client
    hostname = None if server else HOST
    if contender == "ours":
        tls = TLSTransport.wrap(TCPTransport(sock), context, server_side=server, server_hostname=hostname)
        return Ends(tls.send_all, tls.recv_into, tls.recv, tls.close, tls.cipher)
    ssock = context.wrap_socket(sock, server_side=server, server_hostname=hostname)
    return Ends(ssock.sendall, ssock.recv_into, ssock.recv, ssock.close, ssock.cipher)


def _check_agreed(agreed: tuple[str, str, int] | None, contexts: Contexts, contender: str) -> None:
    if agreed is None or agreed[0] != contexts.cipher:
        raise RuntimeError(f"{contender} agreed on {agreed}, not the pinned {contexts.cipher}")


def sync_bulk(contender: str, total: int, contexts: Contexts) -> Sample:
    """MiB/s from the server to the client."""

    def sender(conn: socket.socket) -> None:
        ends = open_sync(contender, conn, contexts, server=True)
        data = memoryview(bytes(CHUNK))
        send_all = ends.send_all
        for _ in range(total // CHUNK):
            send_all(data)
        ends.recv(1)  # the client's word that all arrived: close with nothing unread on either side
        ends.close()

    pid, address = serve_one(sender)

    def receive() -> Sample:
        ends = open_sync(contender, socket.create_connection(address), contexts, server=False)
        view = memoryview(bytearray(CHUNK))
        recv_into, got = ends.recv_into, 0
        clock = Clock()
        while got < total:
            n = recv_into(view)
            if not n:
                raise RuntimeError(f"{contender}: the stream ended after {got} of {total} bytes")
            got += n
        sample = clock.sample(total / 2**20)
        _check_agreed(ends.cipher(), contexts, contender)
        ends.send_all(b"!")
        ends.close()
        return sample

    return as_client(receive, pid, contender)


def sync_echo(contender: str, conn: socket.socket, contexts: Contexts) -> None:
    ends = open_sync(contender, nodelay(conn), contexts, server=True)
    recv, send_all = ends.recv, ends.send_all
    while data := recv(65536):
        send_all(data)
    ends.close()


def sync_rr(contender: str, trips: int, contexts: Contexts) -> Sample:
    """1 KiB request/response round trips per second."""
    pid, address = serve_one(lambda conn: sync_echo(contender, conn, contexts))

    def ping() -> Sample:
        ends = open_sync(contender, nodelay(socket.create_connection(address)), contexts, server=False)
        payload, view = bytes(REQUEST), memoryview(bytearray(REQUEST))
        send_all, recv_into = ends.send_all, ends.recv_into
        clock = Clock()
        for _ in range(trips):
            send_all(payload)
            got = recv_into(view)
            while got < REQUEST:
                n = recv_into(view[got:])
                if not n:
                    raise RuntimeError(f"{contender}: the echo server went away")
                got += n
        sample = clock.sample(trips)
        _check_agreed(ends.cipher(), contexts, contender)
        ends.close()
        return sample

    return as_client(ping, pid, contender)


def sync_handshakes(contender: str, count: int, contexts: Contexts) -> Sample:
    """New connections per second: TCP connect, TLS handshake, close."""
    lst = socket.create_server(("127.0.0.1", 0), backlog=128)

    def acceptor() -> None:
        for _ in range(count):
            conn, _ = lst.accept()
            try:
                ends = open_sync(contender, conn, contexts, server=True)
                try:
                    ends.recv(1)  # the client's end (close_notify, or a bare EOF from the stdlib)
                finally:
                    ends.close()
            except (OSError, TransportError):  # a client that closed with tickets unread resets
                conn.close()
        lst.close()

    pid = fork(acceptor)
    address = lst.getsockname()
    lst.close()

    def connect() -> Sample:
        clock = Clock()
        for _ in range(count):
            open_sync(contender, socket.create_connection(address), contexts, server=False).close()
        return clock.sample(count)

    return as_client(connect, pid, contender)


# -- the async contenders: each library's own stream, its own loop ------------------------------------


class AsyncEnds(NamedTuple):
    """One async TLS connection's calls; each contender's natural ones, wrapped only where it has none."""

    send_all: Callable[[bytes], Awaitable[object]]
    receive_some: Callable[[int], Awaitable[bytes]]  # b"" at the end of the stream
    receive_count: Callable[[memoryview], Awaitable[int]]  # into the buffer where the library can
    aclose: Callable[[], Awaitable[object]]
    cipher: Callable[[], tuple[str, str, int] | None]


def async_contenders() -> tuple[str, ...]:
    return (
        "aio",
        "streams",
        *(("uvloop",) if available("uvloop") else ()),
        *(("trio",) if available("trio") else ()),
        *(("anyio",) if available("anyio") else ()),
    )


async def _open_aio(sock: socket.socket, contexts: Contexts, server: bool) -> AsyncEnds:
    from transports import aio

    context = contexts.server if server else contexts.client
    tls = await aio.TLSTransport.wrap(
        aio.TCPTransport(sock), context, server_side=server, server_hostname=None if server else HOST
    )
    return AsyncEnds(tls.send_all, tls.recv, tls.recv_into, tls.aclose, tls.cipher)


async def _open_streams(sock: socket.socket, contexts: Contexts, server: bool) -> AsyncEnds:
    sock.setblocking(False)
    if server:  # an accepted socket: what start_server does for each client
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2 * CHUNK)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock, ssl=contexts.server)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    else:
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=contexts.client, server_hostname=HOST, limit=2 * CHUNK
        )

    async def send_all(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def count(view: memoryview) -> int:
        return len(await reader.read(len(view)))

    async def aclose() -> None:
        writer.close()
        await writer.wait_closed()

    return AsyncEnds(send_all, reader.read, count, aclose, lambda: writer.get_extra_info("cipher"))


async def _open_trio(sock: socket.socket, contexts: Contexts, server: bool) -> AsyncEnds:
    import trio

    stream = trio.SSLStream(
        trio.SocketStream(trio.socket.from_stdlib_socket(sock)),
        contexts.server if server else contexts.client,
        server_side=server,
        server_hostname=None if server else HOST,
    )
    await stream.do_handshake()

    async def count(view: memoryview) -> int:
        return len(await stream.receive_some(len(view)))

    async def receive_some(n: int) -> bytes:
        return bytes(await stream.receive_some(n))

    return AsyncEnds(stream.send_all, receive_some, count, stream.aclose, stream.cipher)


async def _open_anyio(sock: socket.socket, contexts: Contexts, server: bool) -> AsyncEnds:
    import anyio
    from anyio.streams.tls import TLSAttribute, TLSStream

    stream = await TLSStream.wrap(
        await anyio.abc.SocketStream.from_socket(sock),
        server_side=server,
        hostname=None if server else HOST,
        ssl_context=contexts.server if server else contexts.client,
    )

    async def receive_some(n: int) -> bytes:
        try:
            return await stream.receive(n)
        except anyio.EndOfStream:
            return b""

    async def count(view: memoryview) -> int:
        return len(await receive_some(len(view)))

    return AsyncEnds(
        stream.send, receive_some, count, stream.aclose, lambda: stream.extra(TLSAttribute.cipher)
    )


OPENERS: dict[str, Callable[[socket.socket, Contexts, bool], Awaitable[AsyncEnds]]] = {
    "aio": _open_aio,
    "streams": _open_streams,
    "uvloop": _open_streams,
    "trio": _open_trio,
    "anyio": _open_anyio,
}


def run_async(contender: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run *main* on *contender*'s loop: trio's own, uvloop, or asyncio's (anyio and ours run on asyncio)."""
    if contender == "trio":
        import trio

        return trio.run(main)
    factory = importlib.import_module("uvloop").new_event_loop if contender == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def async_bulk(contender: str, total: int, contexts: Contexts) -> Sample:
    """MiB/s from the server to the client, both ends *contender*."""
    opener = OPENERS[contender]

    def sender(conn: socket.socket) -> None:
        async def send() -> None:
            ends = await opener(conn, contexts, True)
            data = bytes(CHUNK)
            send_all = ends.send_all
            for _ in range(total // CHUNK):
                await send_all(data)
            await ends.receive_some(1)  # the client's word that all arrived
            await ends.aclose()

        run_async(contender, send)

    pid, address = serve_one(sender)

    async def receive() -> Sample:
        ends = await opener(socket.create_connection(address), contexts, False)
        view = memoryview(bytearray(CHUNK))
        count, got = ends.receive_count, 0
        clock = Clock()
        while got < total:
            n = await count(view)
            if not n:
                raise RuntimeError(f"{contender}: the stream ended after {got} of {total} bytes")
            got += n
        sample = clock.sample(total / 2**20)
        _check_agreed(ends.cipher(), contexts, contender)
        await ends.send_all(b"!")
        await ends.aclose()
        return sample

    return as_client(lambda: run_async(contender, receive), pid, contender)


def async_rr(contender: str, trips: int, contexts: Contexts) -> Sample:
    """1 KiB request/response round trips per second, both ends *contender*."""
    opener = OPENERS[contender]

    def echo(conn: socket.socket) -> None:
        async def serve() -> None:
            ends = await opener(nodelay(conn), contexts, True)
            receive_some, send_all = ends.receive_some, ends.send_all
            while data := await receive_some(65536):
                await send_all(data)
            await ends.aclose()

        run_async(contender, serve)

    pid, address = serve_one(echo)

    async def ping() -> Sample:
        ends = await opener(nodelay(socket.create_connection(address)), contexts, False)
        payload = bytes(REQUEST)
        send_all, receive_some = ends.send_all, ends.receive_some
        clock = Clock()
        for _ in range(trips):
            await send_all(payload)
            got = 0
            while got < REQUEST:
                data = await receive_some(REQUEST - got)
                if not data:
                    raise RuntimeError(f"{contender}: the echo server went away")
                got += len(data)
        sample = clock.sample(trips)
        _check_agreed(ends.cipher(), contexts, contender)
        await ends.aclose()
        return sample

    return as_client(lambda: run_async(contender, ping), pid, contender)


def async_workloads(args: argparse.Namespace, contexts: Contexts) -> list[Workload]:
    names = async_contenders()
    total = args.mib << 20
    return [
        Workload(
            f"async bulk {args.mib} MiB", "MiB/s", "async", names, lambda c: async_bulk(c, total, contexts)
        ),
        Workload(
            f"async rr {REQUEST} B", "trips/s", "async", names, lambda c: async_rr(c, args.trips, contexts)
        ),
    ]


# -- runs, medians, ratios -------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    unit: str
    face: str  # "sync" or "async": which baseline its ratios are taken against
    contenders: tuple[str, ...]
    measure: Callable[[str], Sample]


def sync_workloads(args: argparse.Namespace, contexts: Contexts) -> list[Workload]:
    total = args.mib << 20
    return [
        Workload(
            f"sync bulk {args.mib} MiB",
            "MiB/s",
            "sync",
            SYNC_CONTENDERS,
            lambda c: sync_bulk(c, total, contexts),
        ),
        Workload(
            f"sync rr {REQUEST} B",
            "trips/s",
            "sync",
            SYNC_CONTENDERS,
            lambda c: sync_rr(c, args.trips, contexts),
        ),
        Workload(
            "sync handshakes",
            "conns/s",
            "sync",
            SYNC_CONTENDERS,
            lambda c: sync_handshakes(c, args.handshakes, contexts),
        ),
    ]


def all_workloads(args: argparse.Namespace, contexts: Contexts) -> list[Workload]:
    rows = sync_workloads(args, contexts)
    if not args.no_async:
        rows += async_workloads(args, contexts)
    only = [word for word in args.only.split(",") if word]
    return [row for row in rows if not only or any(word in row.name for word in only)]


def run(rows: list[Workload], runs: int, log: Callable[[str], None]) -> tuple[dict[str, Any], list[float]]:
    """Medians and per-run ratios by workload and contender, and the 1-minute load average at each run's start."""
    samples: dict[str, dict[str, list[Sample]]] = {row.name: {} for row in rows}
    loads: list[float] = []
    for index in range(runs):
        loads.append(os.getloadavg()[0])
        log(f"run {index + 1} of {runs}, load average {loads[-1]:.2f} ...")
        for row in rows:
            shift = index % len(row.contenders)  # who goes first rotates run by run
            for contender in row.contenders[shift:] + row.contenders[:shift]:
                samples[row.name].setdefault(contender, []).append(row.measure(contender))
    results: dict[str, Any] = {}
    for row in rows:
        base = samples[row.name][BASELINE[row.face]]
        results[row.name] = {
            "unit": row.unit,
            "baseline": BASELINE[row.face],
            "contenders": {contender: _cell(values, base) for contender, values in samples[row.name].items()},
        }
    return results, loads


def _cell(values: list[Sample], base: list[Sample]) -> dict[str, Any]:
    # Each run measures all contenders seconds apart: a per-run ratio cancels the drift between runs.
    pairs = list(zip(values, base, strict=True))
    return {
        "median": statistics.median(v.rate for v in values),
        "ratio": statistics.median(v.rate / b.rate for v, b in pairs),
        "cpu_us": statistics.median(v.cpu_us for v in values),
        "cpu_ratio": statistics.median(v.cpu_us / b.cpu_us for v, b in pairs),
        "samples": [v.rate for v in values],
        "cpu_samples": [v.cpu_us for v in values],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=256, help="bulk size in MiB")
    parser.add_argument("--trips", type=int, default=10000, help="request/response round trips")
    parser.add_argument("--handshakes", type=int, default=300, help="connections per handshake sample")
    parser.add_argument("--tls", choices=("1.3", "1.2"), default="1.3", help="the pinned protocol version")
    parser.add_argument(
        "--only", default="", help="comma-separated words: the workloads whose names contain one"
    )
    parser.add_argument("--no-async", action="store_true", help="the sync workloads only")
    parser.add_argument("--json", help="also write the medians, ratios and samples to this file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.mib < 1 or args.trips < 1 or args.handshakes < 1:
        parser.error("--runs, --mib, --trips and --handshakes must be at least 1")
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tt-tls-bench-") as directory:
        contexts = make_contexts(directory, args.tls)
        results, loads = run(all_workloads(args, contexts), args.runs, log)
    load_after = os.getloadavg()
    pinned = "client and server pinned to two CPUs" if len(_ALL_CPUS) > 1 else "not pinned (one CPU)"
    print(
        f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}, TLS {args.tls} {contexts.cipher}, "
        f"loopback TCP, {pinned}; medians of {args.runs} interleaved runs; ratio: median per-run ratio "
        f"to stdlib (sync) or asyncio streams (async), of the rate and of the client's CPU time per unit "
        f"(lower is cheaper); load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after, at each run's start {' '.join(f'{x:.2f}' for x in loads)}"
    )
    print(
        f"{'workload':22} {'contender':9} {'median':>10} {'unit':8} {'ratio':>6}  {'client CPU':>16} {'ratio':>6}"
    )
    for name, row in results.items():
        per = "MiB" if row["unit"] == "MiB/s" else row["unit"].split("/")[0].rstrip("s")
        for contender, cell in row["contenders"].items():
            print(
                f"{name:22} {contender:9} {cell['median']:10.4g} {row['unit']:8} {cell['ratio']:5.2f}x  "
                f"{cell['cpu_us']:8.1f} us/{per:5} {cell['cpu_ratio']:5.2f}x"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "python": sys.version.split()[0],
                    "openssl": ssl.OPENSSL_VERSION,
                    "tls": args.tls,
                    "cipher": contexts.cipher,
                    "pinned": pinned,
                    "runs": args.runs,
                    "loadavg_before": load_before,
                    "loadavg_after": load_after,
                    "loadavg_per_run": loads,
                    "results": results,
                },
                fh,
                indent=2,
            )
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
