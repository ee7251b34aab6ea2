"""What the close-wakes bookkeeping and bounded receive buffers cost (issue 13).

Two sets of workloads, each against raw :mod:`socket` in the same run,
contenders interleaved run by run (raw, ours, raw, ours ...), medians and
the ratio ours/raw reported:

* per call, one process, a ``socketpair``: 64-byte ``send`` + ``recv``,
  ``send`` + ``recv_into``, ``send`` + ``recv_exactly`` on a Unix stream,
  and ``send`` + ``recv_from`` on a Unix datagram pair. Both ends in one
  thread never block, so this isolates the Python-level cost of a call:
  the bookkeeping that lets ``close()`` from another thread wake a blocked
  call is in every one of them;
* the cost of a flag (issue 14): 64-byte ``send`` + ``recv`` on a Unix
  stream with ``DONTWAIT`` on both calls, against raw ``socket`` passing
  ``MSG_DONTWAIT``; the last lines set it beside the flag-free ``send`` +
  ``recv`` of the same run (flagged/flag-free, the target being <= 1.3);
* big messages: ``recv_exactly`` of 1 MiB and 16 MiB messages from a sender
  in another process (pinned to another CPU), against a raw loop of
  ``recv_into`` a preallocated buffer. ``recv_exactly`` now grows its buffer
  with the bytes that arrive instead of zero-filling *n* bytes first.

Usage::

    python -m benchmarks.hotpath [--runs 7] [--calls 200000] [--per-call-only] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable

from transports import RecvFlags, SendFlags, UnixDatagramTransport, UnixStreamTransport

PAYLOAD = b"x" * 64
PER_CALL = ("recv", "recv_into", "recv_exactly", "recv_from", "recv DONTWAIT")


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def _per_call(contender: str, workload: str, calls: int) -> float:
    """Seconds per send+receive pair on a socketpair, both ends in this thread."""
    kind = socket.SOCK_DGRAM if workload == "recv_from" else socket.SOCK_STREAM
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    buffer = bytearray(64)
    step: Callable[[], object]
    if contender == "raw":
        send, recv, recv_into, recvfrom_into = a.send, b.recv, b.recv_into, b.recvfrom_into
        dontwait = socket.MSG_DONTWAIT
        steps: dict[str, Callable[[], object]] = {
            "recv": lambda: (send(PAYLOAD), recv(64)),
            "recv DONTWAIT": lambda: (send(PAYLOAD, dontwait), recv(64, dontwait)),
            "recv_into": lambda: (send(PAYLOAD), recv_into(buffer)),
            "recv_exactly": lambda: (a.send(PAYLOAD), recv(64)),
            "recv_from": lambda: (send(PAYLOAD), recvfrom_into(bytearray(64), 0, socket.MSG_TRUNC)),
        }
        step = steps[workload]
        ends: tuple[object, ...] = (a, b)
    elif workload == "recv_from":
        ta, tb = UnixDatagramTransport(a), UnixDatagramTransport(b)
        step = lambda: (ta.send(PAYLOAD), tb.recv_from(64))  # noqa: E731
        ends = (ta, tb)
    else:
        sa, sb = UnixStreamTransport(a), UnixStreamTransport(b)
        send_flag, recv_flag = SendFlags.DONTWAIT, RecvFlags.DONTWAIT
        steps = {
            "recv": lambda: (sa.send(PAYLOAD), sb.recv(64)),
            "recv DONTWAIT": lambda: (sa.send(PAYLOAD, send_flag), sb.recv(64, recv_flag)),
            "recv_into": lambda: (sa.send(PAYLOAD), sb.recv_into(buffer)),
            "recv_exactly": lambda: (sa.send(PAYLOAD), sb.recv_exactly(64)),
        }
        step = steps[workload]
        ends = (sa, sb)
    try:
        for _ in range(1000):
            step()
        start = time.perf_counter()
        for _ in range(calls):
            step()
        return (time.perf_counter() - start) / calls
    finally:
        for end in ends:
            end.close()  # type: ignore[attr-defined]  # a socket or a transport: both close


def _big(contender: str, size: int, count: int) -> float:
    """Bytes per second of *count* messages of *size* bytes received whole from another process."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the sender child
        try:
            b.close()
            _pin(1)
            message = b"m" * size
            for _ in range(count):
                a.sendall(message)
        finally:
            os._exit(0)
    a.close()
    _pin(0)
    try:
        start = time.perf_counter()
        if contender == "raw":
            for _ in range(count):
                buffer = bytearray(size)
                view = memoryview(buffer)
                got = 0
                while got < size:
                    got += b.recv_into(view[got:])
                view.release()
                bytes(buffer)
        else:
            with UnixStreamTransport(b) as end:
                for _ in range(count):
                    end.recv_exactly(size)
        elapsed = time.perf_counter() - start
    finally:
        b.close()
        os.waitpid(pid, 0)
    return size * count / elapsed


def run(runs: int, calls: int, *, big: bool = True) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(runs):
        for workload in PER_CALL:
            for contender in ("raw", "ours"):
                results.setdefault(f"64 B send+{workload} (us/call)", {}).setdefault(contender, []).append(
                    _per_call(contender, workload, calls) * 1e6
                )
        for size, count in ((1 << 20, 64), (16 << 20, 8)) if big else ():
            for contender in ("raw", "ours"):
                results.setdefault(f"recv_exactly {size >> 20} MiB (MiB/s)", {}).setdefault(
                    contender, []
                ).append(_big(contender, size, count) / (1 << 20))
    return {
        name: {contender: statistics.median(values) for contender, values in row.items()}
        for name, row in results.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--per-call-only", action="store_true", help="skip the big-message workloads")
    parser.add_argument("--json", help="also write the medians to this file")
    args = parser.parse_args(argv)
    medians = run(args.runs, args.calls, big=not args.per_call_only)
    print(f"{'workload':38} {'raw':>10} {'ours':>10} {'ours/raw':>9}")
    for name, row in medians.items():
        raw, ours = row["raw"], row["ours"]
        print(f"{name:38} {raw:10.3f} {ours:10.3f} {ours / raw:9.3f}")
    free, flagged = medians["64 B send+recv (us/call)"], medians["64 B send+recv DONTWAIT (us/call)"]
    print(f"{'flagged/flag-free, ours (target <= 1.3)':48} {flagged['ours'] / free['ours']:9.3f}")
    print(f"{'flagged/flag-free, raw':48} {flagged['raw'] / free['raw']:9.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(medians, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
