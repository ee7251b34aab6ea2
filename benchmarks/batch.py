"""Batches of datagrams against raw :mod:`socket` loops (issue 18, items 3 and 5).

One process, loopback, contenders interleaved run by run (raw, ours, raw,
ours ...), the median of the runs reported as nanoseconds per datagram and
as the ratio raw/ours (above 1: ours moves more datagrams per second). Only
the measured side is timed; the other side fills or drains the queue
between rounds, untimed.

* ``send 64x64``, ``send 40x1400``: a ``sendto`` loop of the datagrams
  against one ``send_segments`` (UDP GSO) and against ``send_many``;
* ``gro 64x64``: a ``recvfrom`` loop against ``recv_many`` on a socket
  bound with ``gro=True`` (the sender uses GSO for both, so that loopback
  hands the GRO socket one coalesced buffer; the plain socket gets the
  datagrams one by one, as the kernel splits them for it);
* ``recv_many 64x64``: a ``recvfrom`` loop against ``recv_many`` without
  offload (the portable loop), both sockets blocking (no timeout).

Usage::

    python -m benchmarks.batch [--runs 7] [--rounds 300] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
from collections.abc import Callable

from transports import UDPTransport
from transports.batch import UDP_GRO

HOST = "127.0.0.1"
RCVBUF = 4 << 20


def _udp(gro: bool = False) -> UDPTransport:
    t = UDPTransport.bind(HOST, 0, gro=gro)
    t.raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    return t


def _drain(sock: socket.socket, count: int, size: int) -> None:
    receive = sock.recvfrom
    for _ in range(count):
        receive(size)


def send_case(contender: str, count: int, size: int, rounds: int) -> float:
    """Nanoseconds per datagram sent: a sendto loop, send_segments, or send_many."""
    with _udp() as sender, _udp() as receiver:
        target = receiver.local_address
        sockaddr = target.to_sockaddr()
        data = bytes(range(256)) * (count * size // 256 + 1)
        data = data[: count * size]
        pieces = [data[at : at + size] for at in range(0, len(data), size)]
        pairs = [(piece, target) for piece in pieces]
        raw = sender.raw_socket
        step: Callable[[], object]
        if contender == "raw sendto":
            sendto = raw.sendto

            def step() -> None:
                for piece in pieces:
                    sendto(piece, sockaddr)

        elif contender == "send_segments":

            def step() -> int:
                return sender.send_segments(data, size, target)

        else:

            def step() -> int:
                return sender.send_many(pairs)

        spent = 0.0
        for _ in range(rounds):
            started = time.perf_counter()
            step()
            spent += time.perf_counter() - started
            _drain(receiver.raw_socket, count, size)
    return spent / rounds / count * 1e9


def recv_case(contender: str, count: int, size: int, rounds: int, gso: bool) -> float:
    """Nanoseconds per datagram received: a recvfrom loop, or recv_many (with GRO or not)."""
    gro = contender == "recv_many gro"
    with _udp() as sender, _udp(gro=gro) as receiver:
        target = receiver.local_address
        data = bytes(count * size)
        pieces = [data[at : at + size] for at in range(0, len(data), size)]

        def fill() -> None:
            if gso:
                sender.send_segments(data, size, target)
            else:
                sender.send_many([(piece, target) for piece in pieces])

        raw = receiver.raw_socket
        step: Callable[[], int]
        if contender == "raw recvfrom":
            receive = raw.recvfrom

            def step() -> int:
                for _ in range(count):
                    receive(size)
                return count

        else:

            def step() -> int:
                got = 0
                while got < count:
                    got += len(receiver.recv_many(count - got, size))
                return got

        spent = 0.0
        for _ in range(rounds):
            fill()
            started = time.perf_counter()
            step()
            spent += time.perf_counter() - started
    return spent / rounds / count * 1e9


CASES: dict[str, tuple[Callable[[str, int], float], tuple[str, ...]]] = {
    "send 64x64": (lambda who, r: send_case(who, 64, 64, r), ("raw sendto", "send_segments", "send_many")),
    "send 40x1400": (
        lambda who, r: send_case(who, 40, 1400, r),
        ("raw sendto", "send_segments", "send_many"),
    ),
    "gro 64x64": (lambda who, r: recv_case(who, 64, 64, r, gso=True), ("raw recvfrom", "recv_many gro")),
    "recv_many 64x64": (lambda who, r: recv_case(who, 64, 64, r, gso=False), ("raw recvfrom", "recv_many")),
}


def run(runs: int, rounds: int) -> dict[str, dict[str, float]]:
    """Median ns per datagram of each contender of each case, interleaved run by run."""
    results: dict[str, dict[str, float]] = {}
    for case, (measure, contenders) in CASES.items():
        if UDP_GRO is None and case != "recv_many 64x64":
            continue
        samples: dict[str, list[float]] = {who: [] for who in contenders}
        for _ in range(runs):
            for who in contenders:
                samples[who].append(measure(who, rounds))
        results[case] = {who: statistics.median(values) for who, values in samples.items()}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    results = run(args.runs, args.rounds)
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for case, figures in results.items():
        base_name = next(iter(figures))
        base = figures[base_name]
        for who, ns in figures.items():
            ratio = base / ns
            print(f"{case:18} {who:15} {ns:8.0f} ns/datagram  {ratio:5.2f}x {base_name}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"results": results, "load": load}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
