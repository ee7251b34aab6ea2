"""Core data-path benchmarks: our transports against raw ``socket`` in the same run.

Workloads (each end in its own process, so the GIL is not what we measure):

* bulk: one process sends N MiB in 256 KiB chunks, the other receives into
  a reused buffer; TCP and Unix stream.
* ping-pong: a raw echo server in a child process; the client sends 64 bytes
  and waits for them to come back, TCP and Unix stream.

Contenders alternate run by run (raw, ours, raw, ours ...) and the report
gives medians and the ratio ours/raw. The two processes of each workload
are pinned to different CPUs: unpinned, the ratios swing by up to 3x. Usage::

    python -m benchmarks.core [--runs 5] [--mib 512] [--trips 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from transports import TCPTransport, UnixStreamTransport

CHUNK = 256 * 1024
PING = 64


def _pair_listener(kind: str, directory: str) -> tuple[socket.socket, object]:
    if kind == "tcp":
        lst = socket.create_server(("127.0.0.1", 0))
        return lst, lst.getsockname()
    path = os.path.join(directory, f"bench-{time.monotonic_ns()}.sock")
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(path)
    lst.listen(1)
    return lst, path


def _connect_raw(kind: str, address: object) -> socket.socket:
    family = socket.AF_INET if kind == "tcp" else socket.AF_UNIX
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.connect(address)  # type: ignore[arg-type]  # a (host, port) tuple or a path, per kind
    return sock


def _wrap(kind: str, sock: socket.socket) -> TCPTransport | UnixStreamTransport:
    return TCPTransport(sock) if kind == "tcp" else UnixStreamTransport(sock)


def bulk(kind: str, contender: str, total: int, directory: str) -> float:
    """Bytes per second from sender process to this (receiving) process."""
    lst, address = _pair_listener(kind, directory)
    pid = os.fork()
    if pid == 0:  # child: the sender
        code = 0
        try:
            _pin(1)
            lst.close()
            sock = _connect_raw(kind, address)
            data = memoryview(bytes(CHUNK))
            if contender == "raw":
                for _ in range(total // CHUNK):
                    sock.sendall(data)
                sock.close()
            else:
                with _wrap(kind, sock) as t:
                    send_all = t.send_all
                    for _ in range(total // CHUNK):
                        send_all(data)
        except BaseException:
            code = 1
        os._exit(code)
    _pin(0)
    conn, _ = lst.accept()
    lst.close()
    buffer = bytearray(CHUNK)
    got = 0
    start = time.perf_counter()
    if contender == "raw":
        raw_recv_into = conn.recv_into
        while n := raw_recv_into(buffer):
            got += n
        conn.close()
    else:
        with _wrap(kind, conn) as t:
            recv_into = t.recv_into
            while n := recv_into(buffer):
                got += n
    elapsed = time.perf_counter() - start
    os.waitpid(pid, 0)
    _unpin()
    assert got == total, (got, total)
    return total / elapsed


def pingpong(kind: str, contender: str, trips: int, directory: str) -> float:
    """Round trips per second against a raw echo server in a child process."""
    lst, address = _pair_listener(kind, directory)
    pid = os.fork()
    if pid == 0:  # child: raw echo
        code = 0
        try:
            _pin(1)
            conn, _ = lst.accept()
            lst.close()
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.close()
        except BaseException:
            code = 1
        os._exit(code)
    lst.close()
    _pin(0)
    sock = _connect_raw(kind, address)
    if kind == "tcp":
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = bytes(PING)
    start = time.perf_counter()
    if contender == "raw":
        sendall, recv = sock.sendall, sock.recv
        for _ in range(trips):
            sendall(payload)
            got = recv(PING)
            while len(got) < PING:
                got += recv(PING - len(got))
        sock.close()
    else:
        with _wrap(kind, sock) as t:
            send_all, recv_exactly = t.send_all, t.recv_exactly
            for _ in range(trips):
                send_all(payload)
                recv_exactly(PING)
    elapsed = time.perf_counter() - start
    os.waitpid(pid, 0)
    _unpin()
    return trips / elapsed


_ALL_CPUS = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def _pin(index: int) -> None:
    """Pin this process to one CPU: a ping-pong whose two ends migrate swings 3x."""
    if len(_ALL_CPUS) > 1:
        os.sched_setaffinity(0, {sorted(_ALL_CPUS)[index % len(_ALL_CPUS)]})


def _unpin() -> None:
    if len(_ALL_CPUS) > 1:
        os.sched_setaffinity(0, _ALL_CPUS)


def run(runs: int, mib: int, trips: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {}
    workloads: list[tuple[str, Callable[[str, str, int, str], float], int, float]] = []
    for kind in ("tcp", "unix"):
        workloads.append((f"bulk {kind} 256KiB (GiB/s)", bulk, mib << 20, 2**30))
        workloads.append((f"ping-pong {kind} 64B (k trips/s)", pingpong, trips, 1e3))
    with tempfile.TemporaryDirectory(dir="/tmp") as directory:
        for _ in range(runs):
            for name, work, amount, unit in workloads:
                kind = name.split()[1]
                for contender in ("raw", "ours"):  # interleaved within every run
                    value = work(kind, contender, amount, directory) / unit
                    results.setdefault(name, {}).setdefault(contender, []).append(value)
    summary: dict[str, dict[str, float]] = {}
    for name, by in results.items():
        raw, ours = statistics.median(by["raw"]), statistics.median(by["ours"])
        summary[name] = {"raw": raw, "ours": ours, "ratio": ours / raw}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--trips", type=int, default=20000)
    parser.add_argument("--json", help="also write the medians to this file")
    args = parser.parse_args(argv)
    summary = run(args.runs, args.mib, args.trips)
    print(f"{'workload':34} {'raw':>9} {'ours':>9} {'ours/raw':>9}   (medians of {args.runs})")
    for name, row in summary.items():
        print(f"{name:34} {row['raw']:9.2f} {row['ours']:9.2f} {row['ratio']:9.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"python": sys.version.split()[0], "results": summary}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
