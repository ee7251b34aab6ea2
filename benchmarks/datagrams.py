"""The per-datagram path and connection setup against raw :mod:`socket` (issue 18).

Every workload measures its contenders back to back in one run, in an
order that alternates run by run; the report gives medians and the median
of the per-run ratios ours/raw (or ours/peer).

* per datagram, one process, 64 bytes, both ends in this thread (nothing
  ever blocks, so this is the Python-level cost of a call):

  - UDP ``send_to`` + ``recv_from`` on loopback, against raw ``sendto`` +
    ``recvfrom``;
  - Unix datagram ``send`` + ``recv`` on a socketpair, against raw ``send``
    + ``recv``;
  - Unix datagram ``send`` + ``recv_from``, against raw ``send`` +
    ``recvfrom``;

* connection setup: ``TCPTransport.connect`` to a numeric address and
  ``close``, against ``socket.create_connection`` and ``close``; a raw
  accept-and-close server runs in a forked process pinned to another CPU;
* the async face: UDP ``send_to`` + ``recv_from`` round trips on one event
  loop, against asyncio's ``DatagramProtocol`` endpoint (and on uvloop's
  loop when it is installed).

Usage::

    python -m benchmarks.datagrams [--runs 7] [--calls 100000] [--connects 3000] [--only TEXT] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable

from transports import TCPTransport, UDPTransport, UnixDatagramTransport
from transports.aio import UDPTransport as AsyncUDPTransport

PAYLOAD = b"x" * 64


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def _udp_pair() -> tuple[socket.socket, socket.socket]:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    return a, b


def _timed(step: Callable[[], object], calls: int) -> float:
    """CPU seconds of this thread per *step*.

    Both ends are in this thread and nothing ever waits, so on a quiet
    machine its CPU time is its wall time; on a busy one the CPU time
    leaves out the moments another process held the CPU, which would
    otherwise land on one contender and not the other.
    """
    for _ in range(1000):
        step()
    start = time.thread_time()
    for _ in range(calls):
        step()
    return (time.thread_time() - start) / calls


def per_datagram(contender: str, workload: str, calls: int) -> float:
    """Seconds per send + receive of one 64-byte datagram, both ends in this thread."""
    if workload == "udp send_to+recv_from":
        a, b = _udp_pair()
    else:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    target = b.getsockname()
    step: Callable[[], object]
    if contender == "raw":
        ends: tuple[socket.socket | UDPTransport | UnixDatagramTransport, ...] = (a, b)
        sendto, send, recv, recvfrom = a.sendto, a.send, b.recv, b.recvfrom
        steps: dict[str, Callable[[], object]] = {
            "udp send_to+recv_from": lambda: (sendto(PAYLOAD, target), recvfrom(64)),
            "unixgram send+recv": lambda: (send(PAYLOAD), recv(64)),
            "unixgram send+recv_from": lambda: (send(PAYLOAD), recvfrom(64)),
        }
        step = steps[workload]
    elif workload == "udp send_to+recv_from":
        ua, ub = UDPTransport(a), UDPTransport(b)
        ends = (ua, ub)
        address = ub.local_address
        send_to, recv_from = ua.send_to, ub.recv_from
        step = lambda: (send_to(PAYLOAD, address), recv_from(64))  # noqa: E731
    else:
        xa, xb = UnixDatagramTransport(a), UnixDatagramTransport(b)
        ends = (xa, xb)
        xsend, xrecv, xrecv_from = xa.send, xb.recv, xb.recv_from
        if workload == "unixgram send+recv":
            step = lambda: (xsend(PAYLOAD), xrecv(64))  # noqa: E731
        else:
            step = lambda: (xsend(PAYLOAD), xrecv_from(64))  # noqa: E731
    try:
        return _timed(step, calls)
    finally:
        for end in ends:
            end.close()


def _acceptor(listener: socket.socket) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the server child
        try:
            _pin(1)
            # The client closes first, so TIME_WAIT stays on its side, where each
            # connect takes a fresh port (on the server's side a reused client port
            # can stall a connect for a second).
            while True:
                conn, _ = listener.accept()
                conn.recv(1)
                conn.close()
        except BaseException:
            pass
        finally:
            os._exit(0)
    return pid


def connects(contender: str, port: int, count: int) -> float:
    """Seconds per connect + close to 127.0.0.1:*port*."""
    connect = TCPTransport.connect
    create = socket.create_connection
    target = ("127.0.0.1", port)
    start = time.perf_counter()
    if contender == "raw":
        for _ in range(count):
            create(target).close()
    else:
        for _ in range(count):
            connect("127.0.0.1", port).close()
    return (time.perf_counter() - start) / count


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[tuple[bytes, object]] | None = None

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((data, addr))


async def _aio_round_trips(contender: str, trips: int) -> float:
    loop = asyncio.get_running_loop()
    if contender == "ours":
        first, second = (
            await AsyncUDPTransport.bind("127.0.0.1", 0),
            await AsyncUDPTransport.bind("127.0.0.1", 0),
        )
        async with first as a, second as b:
            address = b.local_address
            start = time.perf_counter()
            for _ in range(trips):
                await a.send_to(PAYLOAD, address)
                await b.recv_from(64)
            return (time.perf_counter() - start) / trips
    ta, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    tb, pb = await loop.create_datagram_endpoint(_Endpoint, local_addr=("127.0.0.1", 0))
    try:
        target = tb.get_extra_info("sockname")
        start = time.perf_counter()
        for _ in range(trips):
            pb.waiter = loop.create_future()
            ta.sendto(PAYLOAD, target)
            await pb.waiter
        return (time.perf_counter() - start) / trips
    finally:
        ta.close()
        tb.close()


def aio_round_trip(contender: str, loop_kind: str, trips: int) -> float:
    """Seconds per async send + receive of one UDP datagram on *loop_kind* ("asyncio" or "uvloop")."""
    if loop_kind == "uvloop":
        import uvloop

        return uvloop.run(_aio_round_trips(contender, trips))
    return asyncio.run(_aio_round_trips(contender, trips))


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run(runs: int, calls: int, connect_count: int, only: str = "") -> dict[str, list[dict[str, float]]]:
    """Each workload's per-run seconds per operation, contender by contender."""
    samples: dict[str, list[dict[str, float]]] = {}
    workloads = ("udp send_to+recv_from", "unixgram send+recv", "unixgram send+recv_from")
    loops = ("asyncio", "uvloop") if _has_uvloop() else ("asyncio",)
    listener = socket.create_server(("127.0.0.1", 0), backlog=512)
    port = listener.getsockname()[1]
    server = _acceptor(listener)
    listener.close()
    _pin(0)
    try:
        for index in range(runs):
            order = ("raw", "ours") if index % 2 == 0 else ("ours", "raw")
            for workload in workloads:
                name = f"64 B {workload}"
                if only in name:
                    row = {c: per_datagram(c, workload, calls) for c in order}
                    samples.setdefault(name, []).append(row)
            if only in "tcp connect+close":
                row = {c: connects(c, port, connect_count) for c in order}
                samples.setdefault("tcp connect+close", []).append(row)
            for loop_kind in loops:
                name = f"aio udp round trip ({loop_kind})"
                if only in name:
                    peer = ("peer", "ours") if index % 2 == 0 else ("ours", "peer")
                    row = {c: aio_round_trip(c, loop_kind, calls // 10) for c in peer}
                    samples.setdefault(name, []).append(row)
    finally:
        os.kill(server, 15)
        os.waitpid(server, 0)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--connects", type=int, default=3000)
    parser.add_argument("--only", default="", help="run the workloads whose name contains this")
    parser.add_argument("--json", help="also write every sample to this file")
    args = parser.parse_args(argv)
    samples = run(args.runs, args.calls, args.connects, args.only)
    print(f"load average {os.getloadavg()[0]:.2f}; per operation, microseconds (median of {args.runs} runs)")
    print(f"{'workload':38} {'raw/peer':>9} {'ours':>9} {'speed ours/raw':>15}")
    for name, rows in samples.items():
        base = "peer" if "aio" in name else "raw"
        raw = statistics.median(r[base] for r in rows) * 1e6
        ours = statistics.median(r["ours"] for r in rows) * 1e6
        # A speed ratio: raw time over our time, so 1.0 is raw speed and more is faster.
        speed = statistics.median(r[base] / r["ours"] for r in rows)
        print(f"{name:38} {raw:9.3f} {ours:9.3f} {speed:15.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"load": os.getloadavg(), "samples": samples}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
