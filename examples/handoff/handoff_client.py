"""Hammer the hand-off server with connections while it replaces itself --swaps times (APUE 17.4).

Starts handoff_server.py, connects in a loop from --clients threads (each connection
reads the one line that names the generation that answered), sends SIGHUP
--swaps times, each once every client was answered a few times by the
current generation, then stops the last generation with SIGTERM. Prints how
many connections were answered, refused or failed otherwise, and how long
each hand-off took. Exits 1 if any connection was refused or failed.

    python handoff_client.py --swaps 20
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from transports import TCPTransport

SERVER = Path(__file__).resolve().with_name("handoff_server.py")
#: Every wait of the driver is bounded by this many seconds.
TIMEOUT = 30.0
SERVING = re.compile(r"serving generation (\d+) pid (\d+) port (\d+)(?: \(took it in ([\d.]+) ms\))?")
HANDED = re.compile(
    r"generation (\d+) handed over to pid \d+: ([\d.]+) ms from SIGHUP \(offer to READY ([\d.]+) ms\)"
)


class Tally:
    """What the client threads saw, shared under one condition."""

    def __init__(self) -> None:
        self.answered: Counter[int] = Counter()
        self.refused = 0
        self.failed: list[str] = []
        self.changed = threading.Condition()
        self.stop = threading.Event()
        #: (pid, port, ms the take took) of each generation, and (ms from SIGHUP, ms to READY) of each swap.
        self.serving: list[tuple[int, int, float]] = []
        self.handed: list[tuple[float, float]] = []
        self.ended = False
        #: Seconds from connect to the answer's end, for each answered connection.
        self.latencies: list[float] = []

    def hammer(self, port: int) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                with TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as conn:
                    line = conn.recv_exactly(len("generation 0\n"))
                    rest = b""
                    while not line.endswith(b"\n") and len(rest) < 16:
                        rest = conn.recv(16)
                        if not rest:
                            break
                        line += rest
            except ConnectionRefusedError:
                with self.changed:
                    self.refused += 1
                continue
            except OSError as exc:
                with self.changed:
                    self.failed.append(repr(exc))
                continue
            with self.changed:
                self.latencies.append(time.monotonic() - began)
                self.answered[int(line.split()[1])] += 1
                self.changed.notify_all()

    def answered_by(self, generation: int, count: int) -> bool:
        return self.answered[generation] >= count

    def swapped(self, generation: int) -> bool:
        return len(self.serving) > generation and len(self.handed) >= generation

    def wait(self, done: Callable[[], bool], what: str) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: done() or self.ended, TIMEOUT) or not done():
                raise SystemExit(
                    f"handoff_client.py: gave up waiting for {what} ({TIMEOUT} s, or the servers exited)"
                )


def read_lines(lines: Iterable[str], tally: Tally) -> None:
    """The reader thread: parse the servers' lines (their order between processes varies)."""
    for line in lines:
        with tally.changed:
            if found := SERVING.search(line):
                tally.serving.append((int(found[2]), int(found[3]), float(found[4] or 0)))
            elif found := HANDED.search(line):
                tally.handed.append((float(found[2]), float(found[3])))
            else:
                print(line, end="", flush=True)
            tally.changed.notify_all()
    with tally.changed:
        tally.ended = True
        tally.changed.notify_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=5, help="hand-offs to make (default 5)")
    parser.add_argument("--clients", type=int, default=2, help="client threads (default 2)")
    parser.add_argument("--between", type=int, default=20, help="answers per generation before the next swap")
    args = parser.parse_args()

    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="handoff-") as directory:
        control = os.path.join(directory, "control")
        server = subprocess.Popen(
            [sys.executable, str(SERVER), "--control", control], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout is not None
        reader = threading.Thread(target=read_lines, args=(server.stdout, tally))
        reader.start()
        threads: list[threading.Thread] = []
        pid = server.pid
        try:
            tally.wait(lambda: len(tally.serving) >= 1, "generation 0 to start")
            port = tally.serving[0][1]
            threads = [threading.Thread(target=tally.hammer, args=(port,)) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for generation in range(1, args.swaps + 1):
                tally.wait(functools.partial(tally.answered_by, generation - 1, args.between), "answers")
                os.kill(pid, signal.SIGHUP)
                tally.wait(functools.partial(tally.swapped, generation), "the swap")
                pid = tally.serving[generation][0]
            tally.wait(functools.partial(tally.answered_by, args.swaps, args.between), "answers")
        finally:
            tally.stop.set()
            for thread in threads:
                thread.join(TIMEOUT)
            os.kill(pid, signal.SIGTERM)
            reader.join(TIMEOUT)  # the pipe ends once every generation exited
            server.stdout.close()
            server.wait(TIMEOUT)

    total = sum(tally.answered.values())
    print(
        f"{args.swaps} swaps, {args.clients} clients: {total} connections answered "
        f"({len(tally.answered)} generations), {tally.refused} refused, {len(tally.failed)} failed"
    )
    if tally.handed:
        swaps = [swap for swap, _ in tally.handed]
        readies = [ready for _, ready in tally.handed]
        takes = [took for _, _, took in tally.serving[1:]]
        print(
            f"hand-off from SIGHUP to released: median {statistics.median(swaps):.1f} ms, "
            f"max {max(swaps):.1f} ms (spawning the successor and starting Python included)"
        )
        print(
            f"take() in the successor: median {statistics.median(takes):.2f} ms, max {max(takes):.2f} ms; "
            f"offer to READY: median {statistics.median(readies):.2f} ms"
        )
    if tally.latencies:
        print(
            f"connect to answer: median {statistics.median(tally.latencies) * 1000:.2f} ms, "
            f"slowest {max(tally.latencies) * 1000:.1f} ms"
        )
    for failure in tally.failed[:5]:
        print("failed:", failure)
    return 1 if tally.refused or tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
