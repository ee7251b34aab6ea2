"""sendfile benchmark: our ``sendfile``/``recv_into_file`` against the other ways of moving a file.

Send side: one file of ``--mib`` MiB (random bytes, page cache warmed) goes
over TCP loopback and over a Unix stream, sent by each contender in turn:

* ``ours``: ``TCPTransport.sendfile`` / ``UnixStreamTransport.sendfile``;
* ``os.sendfile``: a raw loop over ``os.sendfile`` with explicit offsets;
* ``socket.sendfile``: the standard library's ``socket.socket.sendfile``;
* ``read+sendall``: ``readinto`` a reused 64 KiB buffer, then ``sendall``;
* ``asyncio``: ``loop.sock_sendfile`` on the default event loop.

Every transfer runs in a freshly forked sender process (so its peak RSS,
``ru_maxrss``, belongs to that transfer alone) against a receiver process
that drains with raw ``recv_into`` into a reused 256 KiB buffer. The sender
measures its own CPU time (user + system, ``getrusage(RUSAGE_SELF)`` deltas
taken right around the transfer, so neither the fork nor the interpreter is
counted); throughput is the file size over the time from the sender's start
to the receiver's last byte (``perf_counter`` is CLOCK_MONOTONIC, one clock
for every process). Contenders alternate inside every run, in an order that
rotates from run to run, and the report gives medians and ratios.

The same is repeated with a ``--rss-mib`` file, to show that peak RSS does
not grow with the file. Receive side: a raw ``os.sendfile`` sender, and
either ``recv_into_file`` (splice) or a raw ``recv_into`` + ``write`` loop
writing to a file in the temporary directory (deleted after each run).

Usage::

    python -m benchmarks.sendfile [--runs 5] [--mib 1024] [--rss-mib 256] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from transports import TCPTransport, UnixStreamTransport

RECV_CHUNK = 256 * 1024
READ_CHUNK = 64 * 1024
KINDS = ("tcp", "unix")
SEND_CONTENDERS = ("ours", "os.sendfile", "socket.sendfile", "read+sendall", "asyncio")
RECV_CONTENDERS = ("ours", "recv_into+write")
#: Linux moves at most this much in one sendfile(2) call.
SENDFILE_MAX = 0x7FFFF000

Sample = dict[str, float]


# -- processes ------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def _fork(work: Callable[[], Sample]) -> tuple[int, int]:
    """Run *work* in a child process; return (pid, read end of the pipe carrying its result)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(work()).encode())
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    os.close(write_end)
    return pid, read_end


def _collect(child: tuple[int, int]) -> Sample:
    pid, read_end = child
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        raise RuntimeError(f"benchmark child {pid} failed (status {status})")
    result: Sample = json.loads(data)
    return result


# -- sockets ----------------------------------------------------------------------------------


@contextmanager
def _listener(kind: str, directory: str) -> Iterator[tuple[socket.socket, Any]]:
    if kind == "tcp":
        with socket.create_server(("127.0.0.1", 0)) as tcp:
            yield tcp, tcp.getsockname()
        return
    path = os.path.join(directory, "bench.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.bind(path)
        unix.listen(1)
        try:
            yield unix, path
        finally:
            os.unlink(path)


def _connect(kind: str, address: Any) -> socket.socket:
    sock = socket.socket(socket.AF_INET if kind == "tcp" else socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address)
    return sock


def _wrap(kind: str, sock: socket.socket) -> TCPTransport | UnixStreamTransport:
    return TCPTransport(sock) if kind == "tcp" else UnixStreamTransport(sock)


# -- the contenders ------------------------------------------------------------------------------


def _raw_sendfile(sock: socket.socket, path: str) -> int:
    with open(path, "rb") as source:
        fd, out = source.fileno(), sock.fileno()
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            moved = os.sendfile(out, fd, offset, min(size - offset, SENDFILE_MAX))
            if not moved:
                break
            offset += moved
    return offset


def _read_sendall(sock: socket.socket, path: str) -> int:
    buffer = bytearray(READ_CHUNK)
    sent = 0
    with open(path, "rb", buffering=0) as source, memoryview(buffer) as view:
        while count := source.readinto(buffer):
            sock.sendall(view[:count])
            sent += count
    return sent


def _send(kind: str, contender: str, sock: socket.socket, path: str) -> Callable[[], int]:
    """The transfer of *contender*, ready to run: set-up happens here, outside the measurement."""
    if contender == "ours":
        transport = _wrap(kind, sock)
        return lambda: transport.sendfile(path)
    if contender == "os.sendfile":
        return lambda: _raw_sendfile(sock, path)
    if contender == "socket.sendfile":

        def stdlib() -> int:
            with open(path, "rb") as source:
                return sock.sendfile(source)

        return stdlib
    if contender == "read+sendall":
        return lambda: _read_sendall(sock, path)
    if contender == "asyncio":
        loop = asyncio.new_event_loop()
        sock.setblocking(False)

        def with_asyncio() -> int:
            try:
                with open(path, "rb") as source:
                    return loop.run_until_complete(loop.sock_sendfile(sock, source))
            finally:
                loop.close()

        return with_asyncio
    raise ValueError(f"unknown contender {contender!r}")


def _drain(sock: socket.socket) -> int:
    buffer = bytearray(RECV_CHUNK)
    got = 0
    recv_into = sock.recv_into
    while count := recv_into(buffer):
        got += count
    return got


def _recv_write(sock: socket.socket, path: str) -> int:
    buffer = bytearray(RECV_CHUNK)
    got = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with memoryview(buffer) as view:
            while count := sock.recv_into(buffer):
                done = 0
                while done < count:
                    done += os.write(fd, view[done:count])
                got += count
    finally:
        os.close(fd)
    return got


def _receive(kind: str, contender: str, sock: socket.socket, path: str) -> Callable[[], int]:
    if contender == "ours":
        transport = _wrap(kind, sock)
        return lambda: transport.recv_into_file(path)
    if contender == "recv_into+write":
        return lambda: _recv_write(sock, path)
    raise ValueError(f"unknown contender {contender!r}")


# -- one transfer ----------------------------------------------------------------------------------


def _measured(transfer: Callable[[], int]) -> Sample:
    """Run *transfer*, timing it by wall clock and by this process's CPU."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    moved = transfer()
    cpu, end = _cpu_seconds() - cpu, time.perf_counter()
    return {"bytes": moved, "start": start, "end": end, "cpu": cpu, "rss": _peak_rss_mib()}


def send_once(kind: str, contender: str, path: str, directory: str) -> Sample:
    """One file sent by *contender* in a fresh process to a raw receiver in another."""
    size = os.path.getsize(path)
    with _listener(kind, directory) as (listener, address):

        def receiver() -> Sample:
            conn, _ = listener.accept()
            listener.close()
            with conn:
                got = _drain(conn)
            return {"bytes": got, "end": time.perf_counter()}

        def sender() -> Sample:
            listener.close()
            sock = _connect(kind, address)
            with sock:
                return _measured(_send(kind, contender, sock, path))

        rx_child = _fork(receiver)
        tx_child = _fork(sender)
        tx, rx = _collect(tx_child), _collect(rx_child)
    if tx["bytes"] != size or rx["bytes"] != size:
        raise RuntimeError(f"{contender} over {kind}: sent {tx['bytes']}, received {rx['bytes']} of {size}")
    return {"gibps": size / (rx["end"] - tx["start"]) / 2**30, "cpu": tx["cpu"], "rss": tx["rss"]}


def recv_once(kind: str, contender: str, path: str, directory: str) -> Sample:
    """One file received by *contender* into a file, from a raw os.sendfile sender."""
    size = os.path.getsize(path)
    out = os.path.join(directory, "received.bin")
    with _listener(kind, directory) as (listener, address):

        def receiver() -> Sample:
            conn, _ = listener.accept()
            listener.close()
            with conn:
                return _measured(_receive(kind, contender, conn, out))

        def sender() -> Sample:
            listener.close()
            with _connect(kind, address) as sock:
                start = time.perf_counter()
                return {"bytes": _raw_sendfile(sock, path), "start": start}

        rx_child = _fork(receiver)
        tx_child = _fork(sender)
        tx, rx = _collect(tx_child), _collect(rx_child)
    written = os.path.getsize(out)
    os.unlink(out)  # drops the dirty pages before they are written back
    if rx["bytes"] != size or written != size:
        raise RuntimeError(f"{contender} over {kind}: received {rx['bytes']}, wrote {written} of {size}")
    return {"gibps": size / (rx["end"] - tx["start"]) / 2**30, "cpu": rx["cpu"], "rss": rx["rss"]}


def idle_rss() -> float:
    """Peak RSS of a forked child that moves nothing: the floor under every figure."""
    return _collect(_fork(lambda: {"rss": _peak_rss_mib()}))["rss"]


# -- the run --------------------------------------------------------------------------------------------


def make_file(path: str, mib: int) -> None:
    """Random bytes, written in pieces (the parent stays small), then read once to warm the cache."""
    piece = 8 << 20
    with open(path, "wb") as out:
        for _ in range((mib << 20) // piece):
            out.write(os.urandom(piece))
        out.write(os.urandom((mib << 20) % piece))
        out.flush()
        os.fsync(out.fileno())  # no writeback left to compete with the runs
    buffer = bytearray(piece)
    with open(path, "rb", buffering=0) as source:
        while source.readinto(buffer):
            pass


Table = dict[str, dict[str, dict[str, float]]]


def _baselines(workload: str) -> tuple[str, str]:
    """The contenders a workload's ratios are taken against: (raw zero copy, plain copy loop)."""
    if workload.startswith("send"):
        return "os.sendfile", "read+sendall"
    return "recv_into+write", "recv_into+write"


def _summarise(samples: dict[str, dict[str, list[Sample]]]) -> Table:
    """Medians per contender, and ratios as medians of per-run ratios.

    Each run measures every contender once, close together in time; a ratio
    taken within one run cancels most of the machine's drift between runs.
    """
    table: Table = {}
    for workload, by in samples.items():
        raw, plain = _baselines(workload)
        rows: dict[str, dict[str, float]] = {}
        for contender, runs in by.items():
            row = {key: statistics.median(s[key] for s in runs) for key in runs[0]}
            row["best_gibps"] = max(s["gibps"] for s in runs)
            for name, base in (("raw", raw), ("plain", plain)):
                for key in ("gibps", "cpu"):
                    pairs = [(s[key], b[key]) for s, b in zip(runs, by[base], strict=True) if b[key]]
                    row[f"{key}_vs_{name}"] = statistics.median(a / b for a, b in pairs) if pairs else 0.0
            rows[contender] = row
        table[workload] = rows
    return table


def _add(samples: dict[str, dict[str, list[Sample]]], workload: str, contender: str, sample: Sample) -> None:
    samples.setdefault(workload, {}).setdefault(contender, []).append(sample)


def run(runs: int, mib: int, rss_mib: int, receive: bool, log: Callable[[str], None]) -> dict[str, Any]:
    samples: dict[str, dict[str, list[Sample]]] = {}
    with tempfile.TemporaryDirectory(prefix="tt-bench-") as directory:
        sizes = sorted({mib, rss_mib}, reverse=True)
        files = {size: os.path.join(directory, f"file-{size}.bin") for size in sizes}
        for size, path in files.items():
            log(f"creating {size} MiB of random data and warming the page cache ...")
            make_file(path, size)
        floor = idle_rss()
        for index in range(runs):
            log(f"run {index + 1} of {runs} ...")
            shift = index % len(SEND_CONTENDERS)
            order = SEND_CONTENDERS[shift:] + SEND_CONTENDERS[:shift]
            for size, path in files.items():
                for kind in KINDS:
                    for contender in order:
                        sample = send_once(kind, contender, path, directory)
                        _add(samples, f"send {size} MiB {kind}", contender, sample)
            if receive:
                for kind in KINDS:
                    for contender in RECV_CONTENDERS if index % 2 else RECV_CONTENDERS[::-1]:
                        sample = recv_once(kind, contender, files[mib], directory)
                        _add(samples, f"recv {mib} MiB {kind}", contender, sample)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "runs": runs,
        "mib": mib,
        "rss_mib": rss_mib,
        "idle_rss_mib": floor,
        "medians": _summarise(samples),
        "samples": samples,
    }


def report(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    medians: Table = result["medians"]
    mib, rss_mib = result["mib"], result["rss_mib"]
    lines.append(
        f"Python {result['python']}, {result['platform']}, {result['cpus']} CPUs; "
        f"medians of {result['runs']} interleaved runs; loopback, warm page cache"
    )
    lines.append(
        "ratios are medians of per-run ratios; CPU is user+system of the sending (or receiving) process"
    )
    lines.append(f"idle forked child peak RSS: {result['idle_rss_mib']:.1f} MiB")
    for workload, by in medians.items():
        sending = workload.startswith("send")
        raw, plain = _baselines(workload)
        who = "sender" if sending else "receiver"
        lines += [
            "",
            f"{workload}: throughput vs {raw} / vs {plain}; {who} CPU vs the same; {who} peak RSS",
            f"{'contender':16} {'GiB/s':>6} {'best':>6} {'x raw':>6} {'x copy':>6} "
            f"{'CPU s':>6} {'x raw':>6} {'x copy':>6} {'RSS MiB':>8}",
        ]
        for contender, row in by.items():
            lines.append(
                f"{contender:16} {row['gibps']:6.2f} {row['best_gibps']:6.2f} {row['gibps_vs_raw']:6.2f} "
                f"{row['gibps_vs_plain']:6.2f} {row['cpu']:6.3f} {row['cpu_vs_raw']:6.2f} "
                f"{row['cpu_vs_plain']:6.2f} {row['rss']:8.1f}"
            )
    lines += ["", "goals (ours, sending):"]
    for kind in KINDS:
        big = medians.get(f"send {mib} MiB {kind}")
        if not big:
            continue
        ours = big["ours"]
        speed, faster = ours["gibps_vs_raw"], ours["gibps_vs_plain"]
        cheaper = 1 / ours["cpu_vs_plain"] if ours["cpu_vs_plain"] else float("inf")
        lines.append(
            f"  {kind:4} throughput {speed:.2f}x os.sendfile (>= 0.95: {'met' if speed >= 0.95 else 'NOT met'}); "
            f"{faster:.2f}x read+sendall (>= 2: {'met' if faster >= 2 else 'NOT met'}); "
            f"read+sendall needs {cheaper:.2f}x our CPU (>= 2: {'met' if cheaper >= 2 else 'NOT met'})"
        )
        small = medians.get(f"send {rss_mib} MiB {kind}")
        if small and rss_mib != mib:
            grow = ours["rss"] - small["ours"]["rss"]
            lines.append(
                f"       peak RSS {small['ours']['rss']:.1f} MiB at {rss_mib} MiB, {ours['rss']:.1f} MiB at "
                f"{mib} MiB ({grow:+.1f} MiB: {'flat' if abs(grow) < 4 else 'NOT flat'})"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs; medians are reported")
    parser.add_argument("--mib", type=int, default=1024, help="size of the file sent, in MiB")
    parser.add_argument("--rss-mib", type=int, default=256, help="a second, smaller size to compare peak RSS")
    parser.add_argument("--no-recv", action="store_true", help="skip the receiving-side comparison")
    parser.add_argument("--json", help="also write every sample and the medians to this file")
    args = parser.parse_args(argv)
    if not hasattr(os, "fork") or not hasattr(os, "sendfile"):
        print("this benchmark needs os.fork and os.sendfile (Linux)", file=sys.stderr)
        return 2
    result = run(
        args.runs, args.mib, args.rss_mib, not args.no_recv, lambda text: print(text, file=sys.stderr)
    )
    print("\n".join(report(result)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
