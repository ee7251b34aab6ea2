"""Happy Eyeballs (RFC 8305): connect time when the first address stalls, and what a numeric connect costs (issue 19).

Two workloads, each contender measured in the same run, contenders
interleaved run by run; the report gives medians and the median of the
per-run ratios:

* **a stalling first address**: a name whose first address is a loopback
  listener with a full accept queue (the kernel drops its SYNs, so a
  connect there hangs) and whose second answers. The name is resolved by a
  stand-in for ``socket.getaddrinfo`` (this process only), so no DNS is
  involved. Contenders: ``ours`` (``TCPTransport.connect``, the 250 ms
  attempt delay), ``ours sequential`` (``happy_eyeballs_delay=None``: the
  first address gets its share of the timeout, at least 2 s), ``create_connection``
  (:func:`socket.create_connection`, which gives each address the whole
  timeout), ``ours aio`` and ``asyncio`` (``asyncio.open_connection`` with
  ``happy_eyeballs_delay=0.25``). The timeout is 3 s for all of them;
* **a numeric address**: ``TCPTransport.connect("127.0.0.1", port)``
  against ``socket.create_connection(("127.0.0.1", port))``, per connect
  (only the connect call is timed; the server's accept and both closes are
  not). One address takes the plain path: no lookup, no poll, no thread.

Usage::

    python -m benchmarks.eyeballs [--runs 3] [--connects 2000] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import struct
import sys
import time
from collections.abc import Iterator
from typing import Any

from transports import TCPTransport, aio

NAME = "eyeballs.invalid"
#: The one timeout every contender of the stalling workload gets, in seconds.
TIMEOUT = 3.0
STALL = ("ours", "ours sequential", "create_connection", "ours aio", "asyncio")
NUMERIC = ("raw", "ours")
#: Close with RST: thousands of connects must not fill the ephemeral ports with TIME_WAIT.
_LINGER_0 = struct.pack("ii", 1, 0)


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _stalling(host: str) -> Iterator[tuple[Any, ...]]:
    """A listener whose accept queue is full; yields its socket address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(0)
        address = listener.getsockname()
        with socket.create_connection(address[:2], timeout=5.0):  # the one place in the queue
            yield address


@contextlib.contextmanager
def _name_resolving_to(*sockaddrs: tuple[Any, ...]) -> Iterator[None]:
    """Make :data:`NAME` resolve to *sockaddrs* in this process, in this order."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return real(host, port, family, *args, **kwargs)
        found = []
        for sockaddr in sockaddrs:
            fam = socket.AF_INET6 if len(sockaddr) == 4 else socket.AF_INET
            if family in (0, fam):
                found.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return found

    socket.getaddrinfo = getaddrinfo  # a stand-in with the same call shape, for this process only
    try:
        yield
    finally:
        socket.getaddrinfo = real


def _stalled_connect(contender: str, listener: socket.socket) -> float:
    """Seconds one connect to :data:`NAME` takes; the server's end is accepted and closed."""
    start = time.perf_counter()
    if contender == "ours":
        TCPTransport.connect(NAME, 80, timeout=TIMEOUT).close()
    elif contender == "ours sequential":
        TCPTransport.connect(NAME, 80, timeout=TIMEOUT, happy_eyeballs_delay=None).close()
    elif contender == "create_connection":
        socket.create_connection((NAME, 80), timeout=TIMEOUT).close()
    elif contender == "ours aio":

        async def ours_aio() -> None:
            conn = await aio.TCPTransport.connect(NAME, 80, timeout=TIMEOUT)
            await conn.aclose()

        asyncio.run(ours_aio())
    else:

        async def streams() -> None:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(NAME, 80, happy_eyeballs_delay=0.25), TIMEOUT
            )
            writer.close()
            await writer.wait_closed()

        asyncio.run(streams())
    elapsed = time.perf_counter() - start
    listener.accept()[0].close()
    return elapsed


def _numeric_connects(contender: str, listener: socket.socket, count: int) -> float:
    """Seconds per connect to 127.0.0.1, timing only the connect call."""
    port = listener.getsockname()[1]
    spent = 0.0
    for _ in range(count):
        start = time.perf_counter()
        if contender == "raw":
            sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
            spent += time.perf_counter() - start
        else:
            conn = TCPTransport.connect("127.0.0.1", port, timeout=5.0)
            spent += time.perf_counter() - start
            sock = conn.raw_socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
        listener.accept()[0].close()
        sock.close()
    return spent / count


def _rotated(names: tuple[str, ...], run: int) -> list[str]:
    shift = run % len(names)
    return list(names[shift:] + names[:shift])


def _report(title: str, samples: dict[str, list[float]], base: str, unit: float, label: str) -> None:
    """Each contender's median, and the median of its per-run ratios to *base* (the same run's)."""
    print(title)
    for name, values in samples.items():
        ratio = statistics.median(value / other for value, other in zip(values, samples[base], strict=True))
        print(f"  {name:<18} {statistics.median(values) * unit:10.1f} {label}   x{ratio:6.2f} of {base}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connects", type=int, default=2000, help="numeric connects per run and contender")
    parser.add_argument("--json", help="write every sample to this file")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} at the start")
    slow_host = "::1" if _has_ipv6() else "127.0.0.2"
    stalled: dict[str, list[float]] = {name: [] for name in STALL}
    numeric: dict[str, list[float]] = {name: [] for name in NUMERIC}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        with _stalling(slow_host) as slow, _name_resolving_to(slow, listener.getsockname()):
            for run in range(args.runs):
                for name in _rotated(STALL, run):
                    stalled[name].append(_stalled_connect(name, listener))
        for run in range(args.runs * 3):
            for name in _rotated(NUMERIC, run):
                numeric[name].append(_numeric_connects(name, listener, args.connects))
    first = "IPv6 (::1)" if slow_host == "::1" else "127.0.0.2"
    _report(
        f"first address {first} stalls, second 127.0.0.1 answers; timeout {TIMEOUT:g} s "
        f"(median of {args.runs} runs)",
        stalled,
        "ours",
        1e3,
        "ms",
    )
    _report(
        f"numeric 127.0.0.1: per connect call (median of {args.runs * 3} runs of {args.connects})",
        numeric,
        "raw",
        1e6,
        "us",
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"load": os.getloadavg(), "stalled": stalled, "numeric": numeric}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
