"""Hand-off benchmark: refused connections and swap time while a server replaces itself (APUE 17.4).

Two figures:

* ``swaps``: ``--runs`` runs of ``examples/handoff/handoff_client.py --swaps N``
  (a real server process replacing itself N times on SIGHUP while client
  threads connect in a loop): connections answered, refused and failed per
  run; the hand-off from SIGHUP to released (successor spawn and Python
  start-up included); ``take()`` in the successor; and the slowest
  connect-to-answer against the median (what the short spell with nobody
  accepting costs a client: its connection waits in the backlog).
* ``protocol``: the hand-off exchange alone, in one process (``take`` in
  this thread, ``hand_off`` in another) against the raw peer measured in the
  same run: one ``sendmsg``/``recvmsg`` round trip with ``SCM_RIGHTS`` on a
  seqpacket socketpair, then a one-byte reply, as the bare minimum of any
  fd-passing hand-off.

Usage::

    python -m benchmarks.handoff [--runs 3] [--swaps 20] [--rounds 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import array
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from transports import TCPListener
from transports.handoff import HandoffServer, take

CLIENT = Path(__file__).resolve().parent.parent / "examples" / "handoff" / "handoff_client.py"
SUMMARY = re.compile(r"(\d+) connections answered .*?, (\d+) refused, (\d+) failed")
SWAP = re.compile(r"hand-off from SIGHUP to released: median ([\d.]+) ms, max ([\d.]+) ms")
TAKE = re.compile(r"take\(\) in the successor: median ([\d.]+) ms, max ([\d.]+) ms")
LATENCY = re.compile(r"connect to answer: median ([\d.]+) ms, slowest ([\d.]+) ms")


def one_swap_run(swaps: int) -> dict[str, float]:
    """One run of the example; its figures."""
    out = subprocess.run(
        [sys.executable, str(CLIENT), "--swaps", str(swaps)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    ).stdout
    found: dict[str, float] = {}
    for pattern, names in (
        (SUMMARY, ("answered", "refused", "failed")),
        (SWAP, ("swap_median_ms", "swap_max_ms")),
        (TAKE, ("take_median_ms", "take_max_ms")),
        (LATENCY, ("latency_median_ms", "latency_max_ms")),
    ):
        match = pattern.search(out)
        if match is None:
            raise SystemExit(f"benchmarks.handoff: the example's output lacks {pattern.pattern!r}:\n{out}")
        found.update(zip(names, map(float, match.groups()), strict=True))
    return found


def protocol_ours(rounds: int, directory: str) -> list[float]:
    """Seconds per complete hand-off of one TCP listener between two threads of this process."""
    times = []
    listener = TCPListener.listen("127.0.0.1", 0, timeout=0.05)
    for index in range(rounds):
        control = os.path.join(directory, f"c{index}")
        offer = HandoffServer.listen(control, {"web": listener})
        thread = threading.Thread(target=offer.hand_off, kwargs={"timeout": 10})
        thread.start()
        started = time.perf_counter()
        taken = take(control, timeout=10)
        times.append(time.perf_counter() - started)
        thread.join(10)
        listener.close()  # the released one (its descriptor names a dead socket now)
        listener = taken.get("web", TCPListener)
        listener.timeout = 0.05
    listener.close()
    return times


def protocol_raw(rounds: int) -> list[float]:
    """Seconds per bare round trip: a seqpacket message with one descriptor, then a one-byte reply."""
    times = []
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        for _ in range(rounds):
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            with a, b:
                started = time.perf_counter()
                a.sendmsg(
                    [b"offer"],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [listening.fileno()]))],
                )
                _, ancillary, _, _ = b.recvmsg(64, socket.CMSG_SPACE(4))
                fd = array.array("i", ancillary[0][2])[0]
                b.send(b"r")
                a.recv(1)
                times.append(time.perf_counter() - started)
                os.close(fd)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", help="write the figures to this file too")
    args = parser.parse_args()

    report: dict[str, Any] = {"loadavg": os.getloadavg(), "python": sys.version.split()[0]}
    runs = [one_swap_run(args.swaps) for _ in range(args.runs)]
    report["swaps"] = runs
    for number, run in enumerate(runs, start=1):
        print(
            f"run {number}: {args.swaps} swaps, {run['answered']:.0f} connections answered, "
            f"{run['refused']:.0f} refused, {run['failed']:.0f} failed; swap median {run['swap_median_ms']:.1f} ms "
            f"(max {run['swap_max_ms']:.1f}); take() median {run['take_median_ms']:.2f} ms; "
            f"connect-to-answer median {run['latency_median_ms']:.2f} ms, slowest {run['latency_max_ms']:.1f} ms"
        )
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as directory:
        ours, raw = [], []
        for _ in range(3):  # alternate, so that a load spike hits both
            ours += protocol_ours(args.rounds, directory)
            raw += protocol_raw(args.rounds)
    ours_us, raw_us = statistics.median(ours) * 1e6, statistics.median(raw) * 1e6
    report["protocol"] = {"ours_median_us": ours_us, "raw_median_us": raw_us, "ratio": ours_us / raw_us}
    print(
        f"hand-off exchange in one process: median {ours_us:.0f} us (connect, offer, READY, RELEASED, adopt) "
        f"vs raw SCM_RIGHTS round trip {raw_us:.1f} us: {ours_us / raw_us:.1f}x"
    )
    print(f"load average {report['loadavg'][0]:.2f} {report['loadavg'][1]:.2f} {report['loadavg'][2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
