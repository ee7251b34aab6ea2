"""Measure what the Magic 8-ball server's queue and worker pool buy (APUE 15.7, 15.11, 16.5).

Starts ``server.py`` once per worker count, lets N clients ask one slow
question each at the same moment (threads of this process running
``client.ask``, so no client start-up time is counted), and prints how long
it took until every client had its answer. With one worker the questions
wait in the message queue (APUE 15.7 Message Queues) and are answered one
after another: N times the delay. With W workers (APUE 15.11 Client-Server
Properties) about N/W times the delay. Each question and answer is one
message (APUE 16.5 Data Transfer), whatever the transport.

Run ``python measure.py --clients 8 --delay 0.25 --workers 1 2 4 8``.
"""

from __future__ import annotations

import argparse
import math
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

from client import ask

HERE = Path(__file__).resolve().parent


def start_server(arguments: list[str], timeout: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    """Start server.py; return the process and the URL it listens on."""
    server = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), *arguments],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            server.kill()
            server.wait()
            raise RuntimeError(f"the server did not start within {timeout:g} s")
    line = server.stdout.readline()
    if " listening on " not in line:
        server.wait(timeout)
        raise RuntimeError(f"the server did not start: {line!r}")
    return server, line.split(" listening on ")[1].split()[0]


def one_round(url: str, workers: int, clients: int, delay: float, extra: list[str]) -> tuple[float, str]:
    """Serve *clients* simultaneous questions with *workers* workers; return the wall time and the server's summary."""
    arguments = [
        url,
        "--workers",
        str(workers),
        "--delay",
        str(delay),
        "--max-requests",
        str(clients),
        *extra,
    ]
    server, where = start_server(arguments)
    try:
        start = threading.Barrier(clients + 1)
        answered: list[int] = []

        def client(number: int) -> None:
            start.wait()
            answered.append(len(ask(where, [f"Question {number}: will it be quick?"], timeout=60)))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.monotonic()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        assert server.stdout is not None
        summary = server.stdout.read().strip()
        if sum(answered) != clients:
            raise RuntimeError(f"only {sum(answered)} of {clients} questions were answered")
    finally:
        server.wait(60)
    return elapsed, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the 8-ball server with several worker counts.")
    parser.add_argument("--url", default="tcp://127.0.0.1:0", help="where the server listens")
    parser.add_argument("--clients", type=int, default=8, help="clients asking one question each at once")
    parser.add_argument("--delay", type=float, default=0.25, help="seconds each answer takes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8], help="worker counts to try")
    parser.add_argument("--processes", action="store_true", help="worker processes instead of threads")
    parser.add_argument("--cpu", action="store_true", help="answers keep a CPU busy instead of waiting")
    args = parser.parse_args(argv)
    serial = args.clients * args.delay
    mode = "processes" if args.processes else "threads"
    work = "of CPU " if args.cpu else ""
    print(
        f"{args.clients} clients x 1 question, {args.delay:g} s {work}per answer, {args.url}, worker {mode}"
    )
    extra = ["--processes"] * args.processes + ["--cpu"] * args.cpu
    print(f"serial time (one answer after another): {serial:.2f} s")
    print("workers  wall time  vs serial  ideal  most answers at once")
    for workers in args.workers:
        elapsed, summary = one_round(args.url, workers, args.clients, args.delay, extra)
        at_once = summary.rsplit("at most ", 1)[-1].split()[0]
        ideal = math.ceil(args.clients / workers) * args.delay
        print(
            f"{workers:7d}  {elapsed:7.2f} s  {elapsed / serial:8.2f}  {ideal / serial:5.2f}  {at_once:>20}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
