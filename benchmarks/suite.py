"""The benchmark suite: every workload, every contender, interleaved in one run.

``python -m benchmarks`` and ``transports bench`` run it. Workloads (each
end in its own process, so the GIL is not what we measure):

* bulk stream, TCP and Unix, 64 KiB and 1 MiB chunks: a forked sender, this
  process receiving into a reused buffer; both ends use the contender;
* ping-pong, TCP and Unix, 64 B and 1 KiB: a raw echo server in a forked
  process; the contender sends and waits for the echo;
* datagram rate, UDP and Unix datagram, 64 B messages: a forked sender
  sends as fast as it can, this process receives; both ends use the
  contender; UDP drops what the receiver cannot keep up with, and the loss
  is counted and reported (Unix datagram senders block instead);
* file transfer, TCP and Unix: ``benchmarks.sendfile``'s transfer of a
  warm-cache file by ``sendfile`` and its fallbacks;
* connection setup, TCP and Unix: connect, wait for the server's close,
  close, against a raw accept-and-close server in a forked process.

Contenders: ``ours`` (``transports``), ``raw`` (blocking :mod:`socket`),
``streams`` (asyncio streams), ``sock`` (asyncio ``loop.sock_*``); anyio and
trio join the 64 B ping-pong through ``benchmarks.aio`` when installed.
Within every run each workload measures all its contenders back to back,
in an order that rotates run by run; the report gives medians and the
median of the per-run ratios to the raw baseline (``raw``, or
``os.sendfile`` for files). ``--json`` keeps every sample, ``--plot``
draws the ratios (needs matplotlib: the ``bench`` extra). Usage::

    python -m benchmarks [--quick] [--runs N] [--scale F] [--only TEXT] [--json FILE] [--plot FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from benchmarks import aio as aio_bench
from benchmarks import sendfile as sendfile_bench
from transports import (
    InetAddress,
    TCPTransport,
    UDPTransport,
    UnixAddress,
    UnixDatagramTransport,
    UnixStreamTransport,
)

STREAM_CONTENDERS = ("raw", "ours", "streams", "sock")
DGRAM_CONTENDERS = ("raw", "ours", "sock")
CONNECT_CONTENDERS = ("raw", "ours", "streams")
FILE_CONTENDERS = sendfile_bench.SEND_CONTENDERS
DGRAM_SIZE = 64
#: How long a datagram receiver waits for the next message before it decides the sender is done.
DGRAM_IDLE = 0.5


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    runs: int
    bulk_mib: int
    trips: int
    datagrams: int
    file_mib: int
    connects: int

    def scaled(self, factor: float) -> Sizes:
        def s(value: int) -> int:
            return max(1, round(value * factor))

        return Sizes(
            self.runs, s(self.bulk_mib), s(self.trips), s(self.datagrams), s(self.file_mib), s(self.connects)
        )


DEFAULT = Sizes(runs=5, bulk_mib=1024, trips=20_000, datagrams=100_000, file_mib=512, connects=2000)
QUICK = Sizes(runs=3, bulk_mib=32, trips=1000, datagrams=20_000, file_mib=32, connects=200)


def _run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def _wrap_stream(sock: socket.socket) -> TCPTransport | UnixStreamTransport:
    return UnixStreamTransport(sock) if sock.family == socket.AF_UNIX else TCPTransport(sock)


# -- bulk stream -------------------------------------------------------------------------------


def _bulk_send(contender: str, sock: socket.socket, total: int, chunk: int) -> None:
    count = total // chunk
    data = memoryview(bytes(chunk))
    if contender == "raw":
        with sock:
            for _ in range(count):
                sock.sendall(data)
    elif contender == "ours":
        with _wrap_stream(sock) as transport:
            send_all = transport.send_all
            for _ in range(count):
                send_all(data)
    elif contender == "streams":

        async def streams() -> None:
            _, writer = await aio_bench._open_stream(sock)
            for _ in range(count):
                writer.write(data)
                await writer.drain()
            await aio_bench._close_stream(writer)

        _run_async(streams())
    else:

        async def sock_calls() -> None:
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            with sock:
                for _ in range(count):
                    await loop.sock_sendall(sock, data)

        _run_async(sock_calls())


def _bulk_recv(contender: str, sock: socket.socket, chunk: int) -> int:
    buffer = bytearray(chunk)
    got = 0
    if contender == "raw":
        with sock:
            recv_into = sock.recv_into
            while n := recv_into(buffer):
                got += n
        return got
    if contender == "ours":
        with _wrap_stream(sock) as transport:
            ours_recv_into = transport.recv_into
            while n := ours_recv_into(buffer):
                got += n
        return got

    async def streams() -> int:
        total = 0
        reader, writer = await aio_bench._open_stream(sock)
        while data := await reader.read(chunk):
            total += len(data)
        await aio_bench._close_stream(writer)
        return total

    async def sock_calls() -> int:
        total = 0
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        with sock:
            while n := await loop.sock_recv_into(sock, buffer):
                total += n
        return total

    result: int = _run_async(streams() if contender == "streams" else sock_calls())
    return result


def bulk(kind: str, chunk: int, total: int, contender: str, directory: str) -> float:
    """GiB/s from a forked sender to this process, both ends using *contender*."""
    total -= total % chunk
    lst, address = aio_bench._listener(kind, directory)

    def sender() -> None:
        lst.close()
        _bulk_send(contender, _connect(kind, address), total, chunk)

    pid = aio_bench._fork(sender)
    conn, _ = lst.accept()
    lst.close()
    start = time.perf_counter()
    got = _bulk_recv(contender, conn, chunk)
    elapsed = time.perf_counter() - start
    aio_bench._reap(pid)
    if got != total:
        raise RuntimeError(f"bulk {kind} {contender}: received {got} of {total} bytes")
    return total / elapsed / 2**30


def _connect(kind: str, address: Any) -> socket.socket:
    sock = socket.socket(socket.AF_INET if kind == "tcp" else socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


# -- ping-pong -------------------------------------------------------------------------------------


def _ping(contender: str, sock: socket.socket, trips: int, size: int) -> None:
    payload = bytes(size)
    if contender == "raw":
        with sock:
            sendall, recv = sock.sendall, sock.recv
            for _ in range(trips):
                sendall(payload)
                got = len(recv(size))
                while got < size:
                    got += len(recv(size - got))
    elif contender == "ours":
        with _wrap_stream(sock) as transport:
            send_all, recv_exactly = transport.send_all, transport.recv_exactly
            for _ in range(trips):
                send_all(payload)
                recv_exactly(size)
    elif contender == "streams":

        async def streams() -> None:
            reader, writer = await aio_bench._open_stream(sock)
            for _ in range(trips):
                writer.write(payload)
                await writer.drain()
                await reader.readexactly(size)
            await aio_bench._close_stream(writer)

        _run_async(streams())
    else:

        async def sock_calls() -> None:
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            buffer = bytearray(size)
            with sock, memoryview(buffer) as view:
                for _ in range(trips):
                    await loop.sock_sendall(sock, payload)
                    got = 0
                    while got < size:
                        n = await loop.sock_recv_into(sock, view[got:])
                        if not n:
                            raise EOFError("the echo server went away")
                        got += n

        _run_async(sock_calls())


def pingpong(kind: str, size: int, trips: int, contender: str, directory: str) -> float:
    """Thousands of round trips per second against a raw echo server in a forked process."""
    if contender in ("anyio", "trio"):  # benchmarks.aio has them, for 64-byte pings
        return aio_bench.pingpong(kind, "asyncio", contender, trips, directory) / 1e3
    lst, address = aio_bench._listener(kind, directory)

    def echo() -> None:
        conn, _ = lst.accept()
        lst.close()
        if kind == "tcp":
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    pid = aio_bench._fork(echo)
    lst.close()
    sock = aio_bench._connect_raw(kind, address)
    start = time.perf_counter()
    _ping(contender, sock, trips, size)
    elapsed = time.perf_counter() - start
    aio_bench._reap(pid)
    return trips / elapsed / 1e3


# -- datagram rate ------------------------------------------------------------------------------------

_END = b"E"


def _dgram_socket(kind: str, directory: str, name: str) -> tuple[socket.socket, Any]:
    if kind == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(directory, f"{name}-{time.monotonic_ns()}.sock"))
    return sock, sock.getsockname()


def _send_ends(send: Callable[[], object]) -> None:
    """The end marker, a few times over (UDP may drop some); the receiver may be gone already."""
    for _ in range(10):
        try:
            send()
        except OSError:
            return


def _dgram_send(contender: str, sock: socket.socket, kind: str, target: Any, count: int) -> None:
    payload = bytes(DGRAM_SIZE)
    if contender == "raw":
        with sock:
            sendto = sock.sendto
            for _ in range(count):
                sendto(payload, target)
            _send_ends(lambda: sendto(_END, target))
    elif contender == "ours":
        transport: UDPTransport | UnixDatagramTransport
        address: InetAddress | UnixAddress
        if kind == "udp":
            transport, address = UDPTransport(sock), InetAddress(*target)
        else:
            transport, address = UnixDatagramTransport(sock), UnixAddress(target)
        with transport:
            send_to = transport.send_to
            for _ in range(count):
                send_to(payload, address)
            _send_ends(lambda: send_to(_END, address))
    else:

        async def sock_calls() -> None:
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            with sock:
                for _ in range(count):
                    await loop.sock_sendto(sock, payload, target)
                sock.setblocking(True)
                _send_ends(lambda: sock.sendto(_END, target))

        _run_async(sock_calls())


def _dgram_recv(contender: str, sock: socket.socket, kind: str) -> tuple[int, float, float]:
    """Receive until the end marker or an idle gap: (messages, time of first, time of last)."""
    clock = time.perf_counter
    got, first, last = 0, 0.0, 0.0
    if contender in ("raw", "ours"):
        sock.settimeout(DGRAM_IDLE)
        try:
            if contender == "raw":
                with sock:
                    recvfrom = sock.recvfrom
                    data = recvfrom(DGRAM_SIZE)[0]
                    first = clock()
                    while data != _END:
                        got += 1
                        last = clock()
                        data = recvfrom(DGRAM_SIZE)[0]
            else:
                with UDPTransport(sock) if kind == "udp" else UnixDatagramTransport(sock) as transport:
                    recv_from = transport.recv_from
                    data = recv_from(DGRAM_SIZE).data
                    first = clock()
                    while data != _END:
                        got += 1
                        last = clock()
                        data = recv_from(DGRAM_SIZE).data
        except TimeoutError:
            pass
        return got, first, last

    async def sock_calls() -> tuple[int, float, float]:
        count, start, end = 0, 0.0, 0.0
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        with sock:
            try:
                data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, DGRAM_SIZE), DGRAM_IDLE)
                start = clock()
                while data != _END:
                    count += 1
                    end = clock()
                    data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, DGRAM_SIZE), DGRAM_IDLE)
            except TimeoutError:
                pass
        return count, start, end

    result: tuple[int, float, float] = _run_async(sock_calls())
    return result


def datagrams(kind: str, count: int, contender: str, directory: str) -> tuple[float, float]:
    """(thousands of messages received per second, fraction lost) from a forked sender."""
    receiver, target = _dgram_socket(kind, directory, "rx")

    def sender() -> None:
        receiver.close()
        sock, _ = _dgram_socket(kind, directory, "tx")
        _dgram_send(contender, sock, kind, target, count)

    pid = aio_bench._fork(sender)
    got, first, last = _dgram_recv(contender, receiver, kind)
    aio_bench._reap(pid)
    if got < 2:
        raise RuntimeError(f"datagrams {kind} {contender}: only {got} of {count} messages arrived")
    # The first message starts the clock, so it is not counted in the rate.
    return (got - 1) / (last - first) / 1e3, 1 - got / count


# -- connection setup ------------------------------------------------------------------------------------


def _connect_many(contender: str, kind: str, address: Any, count: int) -> None:
    """Connect, wait for the server's close (end of stream), close; *count* times, in lockstep.

    Waiting for the server keeps its accept queue short: a full queue drops
    SYNs, and a dropped SYN costs a one-second retransmission.
    """
    if contender == "raw":
        family = socket.AF_INET if kind == "tcp" else socket.AF_UNIX
        for _ in range(count):
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.connect(address)
                sock.recv(1)
    elif contender == "ours":
        if kind == "tcp":
            host, port = address
            for _ in range(count):
                with TCPTransport.connect(host, port) as conn:
                    conn.recv(1)
        else:
            for _ in range(count):
                with UnixStreamTransport.connect(address) as unix:
                    unix.recv(1)
    else:

        async def streams() -> None:
            for _ in range(count):
                if kind == "tcp":
                    reader, writer = await asyncio.open_connection(*address)
                else:
                    reader, writer = await asyncio.open_unix_connection(address)
                await reader.read(1)
                await aio_bench._close_stream(writer)

        _run_async(streams())


def connections(kind: str, count: int, contender: str, directory: str) -> float:
    """Thousands of connections set up and closed per second, against a raw accept-and-close server."""
    lst, address = aio_bench._listener(kind, directory)
    lst.listen(128)

    def server() -> None:
        with lst:
            for _ in range(count):
                conn, _ = lst.accept()
                conn.close()

    pid = aio_bench._fork(server)
    lst.close()
    start = time.perf_counter()
    _connect_many(contender, kind, address, count)
    elapsed = time.perf_counter() - start
    aio_bench._reap(pid)
    return count / elapsed / 1e3


# -- the run ----------------------------------------------------------------------------------------------


@dataclass
class Workload:
    """One row of the table: a measurement per contender, run after run."""

    name: str
    unit: str
    baseline: str
    contenders: tuple[str, ...]
    measure: Callable[[str, str], Any]  # (contender, directory) -> value, or (value, extra)
    extra_name: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    extras: dict[str, list[float]] = field(default_factory=dict)


def _optional_pingers() -> tuple[str, ...]:
    return tuple(name for name in ("anyio", "trio") if aio_bench._available(name))


def workloads(sizes: Sizes, file_path: str | None) -> list[Workload]:
    rows: list[Workload] = []
    total = sizes.bulk_mib << 20
    for kind in ("tcp", "unix"):
        for chunk, label in ((64 << 10, "64KiB"), (1 << 20, "1MiB")):
            rows.append(
                Workload(
                    f"bulk {kind} {label}",
                    "GiB/s",
                    "raw",
                    STREAM_CONTENDERS,
                    functools.partial(bulk, kind, chunk, max(total, chunk)),
                )
            )
    for kind in ("tcp", "unix"):
        for size, label in ((64, "64B"), (1024, "1KiB")):
            extra = _optional_pingers() if size == aio_bench.PING else ()
            rows.append(
                Workload(
                    f"ping-pong {kind} {label}",
                    "k trips/s",
                    "raw",
                    STREAM_CONTENDERS + extra,
                    functools.partial(pingpong, kind, size, sizes.trips),
                )
            )
    for kind in ("udp", "unixgram"):
        rows.append(
            Workload(
                f"datagrams {kind} {DGRAM_SIZE}B",
                "k msgs/s",
                "raw",
                DGRAM_CONTENDERS,
                functools.partial(datagrams, kind, sizes.datagrams),
                extra_name="loss",
            )
        )
    if file_path is not None:
        for kind in sendfile_bench.KINDS:

            def send_file(c: str, d: str, k: str = kind, path: str = file_path) -> tuple[float, float]:
                sample = sendfile_bench.send_once(k, c, path, d)
                return sample["gibps"], sample["cpu"]

            rows.append(
                Workload(
                    f"file {kind} {sizes.file_mib}MiB",
                    "GiB/s",
                    "os.sendfile",
                    FILE_CONTENDERS,
                    send_file,
                    extra_name="sender CPU s",
                )
            )
    for kind in ("tcp", "unix"):
        rows.append(
            Workload(
                f"connect {kind}",
                "k conns/s",
                "raw",
                CONNECT_CONTENDERS,
                functools.partial(connections, kind, sizes.connects),
            )
        )
    return rows


def run(sizes: Sizes, only: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tt-bench-") as directory:
        file_path = os.path.join(directory, "payload.bin")
        rows = [w for w in workloads(sizes, file_path) if not only or any(word in w.name for word in only)]
        if any(w.name.startswith("file") for w in rows):
            log(f"creating a {sizes.file_mib} MiB file and warming the page cache ...")
            sendfile_bench.make_file(file_path, sizes.file_mib)
        for index in range(sizes.runs):
            log(f"run {index + 1} of {sizes.runs} ...")
            for row in rows:
                shift = index % len(row.contenders)  # who goes first rotates run by run
                for contender in row.contenders[shift:] + row.contenders[:shift]:
                    value = row.measure(contender, directory)
                    if isinstance(value, tuple):
                        value, extra = value
                        row.extras.setdefault(contender, []).append(extra)
                    row.samples.setdefault(contender, []).append(value)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sizes": sizes.__dict__,
        "seconds": round(time.monotonic() - started, 1),
        "results": {row.name: _summary(row) for row in rows},
    }


def _summary(row: Workload) -> dict[str, Any]:
    base = row.samples[row.baseline]
    contenders: dict[str, dict[str, Any]] = {}
    for contender, values in row.samples.items():
        cell: dict[str, Any] = {
            "median": statistics.median(values),
            # Each run measures all contenders seconds apart: a per-run ratio cancels drift between runs.
            "ratio": statistics.median(v / b for v, b in zip(values, base, strict=True)),
            "samples": values,
        }
        if contender in row.extras:
            cell[row.extra_name] = statistics.median(row.extras[contender])
        contenders[contender] = cell
    return {"unit": row.unit, "baseline": row.baseline, "contenders": contenders}


# -- the report ----------------------------------------------------------------------------------------------

#: (workload prefix, contender, against, least ratio): the goals of issue 9.
GOALS = (
    ("bulk", "ours", "raw", 0.97),
    ("ping-pong", "ours", "raw", 0.85),
    ("ping-pong", "ours", "streams", 1.5),
    ("datagrams", "ours", "raw", 0.9),
    ("file", "ours", "os.sendfile", 0.95),
)


def _ratio(cell: dict[str, Any], against: dict[str, Any]) -> float:
    return float(statistics.median(a / b for a, b in zip(cell["samples"], against["samples"], strict=True)))


def report(result: dict[str, Any]) -> list[str]:
    results: dict[str, Any] = result["results"]
    names: list[str] = []
    for row in results.values():
        names += [c for c in row["contenders"] if c not in names]
    lines = [
        f"Python {result['python']}, {result['platform']}, {result['cpus']} CPUs, loopback; "
        f"medians of {result['sizes']['runs']} interleaved runs; (x) = median per-run ratio to the "
        "raw baseline (raw socket; os.sendfile for files)",
        "",
        f"{'workload':24} {'unit':10}" + "".join(f"{name:>19}" for name in names),
    ]
    for workload, row in results.items():
        cells = []
        for name in names:
            cell = row["contenders"].get(name)
            cells.append(f"{cell['median']:10.3g} ({cell['ratio']:5.2f}x)" if cell else "")
        lines.append(f"{workload:24} {row['unit']:10}" + "".join(f"{c:>19}" for c in cells))
    losses = [
        f"{workload} {name} {cell['loss']:.1%}"
        for workload, row in results.items()
        for name, cell in row["contenders"].items()
        if "loss" in cell
    ]
    if losses:
        lines += ["", "datagram loss: " + ", ".join(losses)]
    cpu = [
        f"{name} {cell['sender CPU s']:.3f}"
        for workload, row in results.items()
        if workload.startswith("file tcp")
        for name, cell in row["contenders"].items()
    ]
    if cpu:
        lines += ["file tcp sender CPU seconds: " + ", ".join(cpu)]
    lines += ["", "goals:"]
    for prefix, who, against, least in GOALS:
        for workload, row in results.items():
            by = row["contenders"]
            if workload.startswith(prefix) and who in by and against in by:
                ratio = _ratio(by[who], by[against])
                verdict = "met" if ratio >= least else "NOT met"
                lines.append(f"  {workload:24} {who} {ratio:.2f}x {against} (>= {least}): {verdict}")
    lines.append(f"\n{result['seconds']} s in all")
    return lines


def plot(result: dict[str, Any], path: str) -> bool:
    """Draw the ratios as grouped bars into a PNG at *path*; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    results: dict[str, Any] = result["results"]
    workloads_ = list(results)
    names: list[str] = []
    for row in results.values():
        names += [c for c in row["contenders"] if c not in names]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(workloads_) + 1.6))
    height = 0.8 / len(names)
    for i, name in enumerate(names):
        ys, xs = [], []
        for j, workload in enumerate(workloads_):
            cell = results[workload]["contenders"].get(name)
            if cell is not None:
                ys.append(j + (i - (len(names) - 1) / 2) * height)
                xs.append(cell["ratio"])
        ax.barh(ys, xs, height=height, label=name)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(workloads_)), workloads_)
    ax.invert_yaxis()
    ax.set_xlabel("median ratio to the raw baseline (raw socket; os.sendfile for files); higher is better")
    ax.set_title(
        f"typed-transports benchmarks: Python {result['python']}, {result['cpus']} CPUs, loopback",
        fontsize=10,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # beside the bars, never over them
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="transports bench",
        description="Benchmark typed-transports against raw sockets and asyncio, interleaved, in one run.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes and 3 runs (under a minute)")
    parser.add_argument("--runs", type=int, help="interleaved runs per workload (default 5; quick 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size by this factor")
    parser.add_argument(
        "--only", default="", help="comma-separated words: run the workloads whose names contain one"
    )
    parser.add_argument("--json", metavar="FILE", help="write every sample, medians and ratios to FILE")
    parser.add_argument("--plot", metavar="FILE", help="draw the ratios into a PNG (needs matplotlib)")
    args = parser.parse_args(argv)
    if not hasattr(os, "fork"):
        print("transports bench: the benchmarks need os.fork (Linux, macOS)", file=sys.stderr)
        return 2
    if args.scale <= 0 or (args.runs is not None and args.runs < 1):
        parser.error("--scale must be > 0 and --runs at least 1")
    sizes = (QUICK if args.quick else DEFAULT).scaled(args.scale)
    if args.runs is not None:
        sizes = Sizes(args.runs, *list(sizes.__dict__.values())[1:])
    only = [word for word in args.only.split(",") if word]
    result = run(sizes, only, lambda text: print(text, file=sys.stderr, flush=True))
    print("\n".join(report(result)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    if args.plot and not plot(result, args.plot):
        print(
            "transports bench: matplotlib is not installed, so no plot was drawn; "
            "pip install 'typed-transports[bench]'",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
