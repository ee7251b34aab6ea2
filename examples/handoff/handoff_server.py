"""A TCP server that replaces itself on SIGHUP without refusing a connection (APUE 17.4).

Generation 0 listens on 127.0.0.1 (port 0 unless --port). On SIGHUP a
generation starts its successor (this script with --take), offers it the
listening socket at the control path, and once the successor took it, stops
accepting, lets its running handlers finish and exits. SIGTERM stops the
current generation. Each connection gets one line naming the generation
that answered it.

    python handoff_server.py --control /tmp/handoff.ctl        # then: kill -HUP <pid>
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import threading
import time
from types import FrameType

from transports import TCPListener, TCPTransport, handoff

_LOG = threading.Lock()


def log(text: str) -> None:
    """One line to stdout in one write: the replacing thread and the serving one both log."""
    with _LOG:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def replace(listener: TCPListener, control: str, generation: int) -> None:
    """Start the successor and hand it the listener; on failure keep serving."""
    started = time.monotonic()
    with handoff.HandoffServer.listen(control, {"web": listener}) as offer:
        args = [sys.executable, os.path.abspath(__file__), "--take", "--control", control]
        os.posix_spawn(sys.executable, [*args, "--generation", str(generation + 1)], os.environ)
        try:
            handed = offer.hand_off(timeout=30)
        except handoff.HandoffError as exc:
            log(f"generation {generation}: hand-off failed, still serving: {exc}")
            return
    log(
        f"generation {generation} handed over to pid {handed.successor.pid}: "
        f"{(time.monotonic() - started) * 1000:.1f} ms from SIGHUP "
        f"(offer to READY {handed.ready_after * 1000:.2f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", required=True, help="path of the hand-off control socket")
    parser.add_argument("--port", type=int, default=0, help="TCP port of generation 0 (default: any)")
    parser.add_argument("--take", action="store_true", help="take the listener from the running server")
    parser.add_argument("--generation", type=int, default=0)
    args = parser.parse_args()
    generation: int = args.generation

    started = time.monotonic()
    if args.take:
        taken = handoff.take(args.control, timeout=30)
        listener = taken.get("web", TCPListener)
        took = f" (took it in {(time.monotonic() - started) * 1000:.1f} ms)"
    else:
        listener = TCPListener.listen("127.0.0.1", args.port)
        took = ""
    log(f"serving generation {generation} pid {os.getpid()} port {listener.address.port}{took}")

    replacing = threading.Lock()

    def replace_once() -> None:
        if not replacing.acquire(blocking=False):
            log(f"generation {generation}: a hand-off is already under way; SIGHUP ignored")
            return
        try:
            replace(listener, args.control, generation)
        finally:
            replacing.release()

    # A signal handler runs in the main thread between any two bytecodes, even while that thread
    # holds a lock of threading's own (serve() starts a thread per connection there): starting a
    # thread from the handler could wait on that lock for ever. The handler only queues the signal
    # (SimpleQueue.put may be called from a handler); this thread acts on it.
    signals: queue.SimpleQueue[int] = queue.SimpleQueue()

    def act_on_signals() -> None:
        while True:
            if signals.get() == signal.SIGHUP:
                # Not a daemon (this thread is one): the hand-off must finish before the process exits.
                threading.Thread(target=replace_once, daemon=False).start()
            else:
                listener.close()
                return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals.put(signum)

    threading.Thread(target=act_on_signals, daemon=True).start()
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def answer(conn: TCPTransport) -> None:
        conn.send_all(f"generation {generation}\n".encode())

    with listener:
        served = listener.serve(answer)
    log(f"generation {generation} drained: answered {served.accepted}, cut {len(served.cut)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
