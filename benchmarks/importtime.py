"""What ``import transports`` costs a fresh interpreter, before and after a change (issue 14).

Each run starts a new interpreter; contenders are interleaved run by run
(empty, raw, ours, before, empty, raw, ...) so a busy machine slows them
alike. Reported: the median wall time of each, the import's own cost (the
median minus the empty interpreter's), and the ratios:

* ``empty``: ``python -c pass``, the floor every run pays;
* ``raw``: ``python -c "import socket"``, the standard module we wrap;
* ``ours``: ``python -c "import transports"`` from this tree's ``src``;
* ``before``: the same from another tree's ``src`` (``--before``, e.g. a
  ``git worktree add /tmp/head14 HEAD``), when given.

It also lists which heavy modules each import pulls in
(:mod:`importlib.metadata`, :mod:`typing_extensions`, :mod:`asyncio`) and
the largest cumulative times of ``python -X importtime``.

Usage::

    python -m benchmarks.importtime [--runs 20] [--before /tmp/head14/src] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
#: transports._socket is the socket core before issue 14, transports._core.transport after it;
#: the memory transports moved from transports.memory to transports.testing.memory.
WATCHED = (
    "importlib.metadata",
    "typing_extensions",
    "asyncio",
    "transports.memory",
    "transports.testing.memory",
    "transports._socket",
    "transports._core.transport",
)


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def _once(code: str, src: Path | None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=_env(src), check=True, timeout=60)
    return time.perf_counter() - start


def _loaded(src: Path) -> dict[str, bool]:
    code = f"import sys, transports; print(*[m in sys.modules for m in {WATCHED!r}])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(src), check=True, capture_output=True, text=True, timeout=60
    ).stdout.split()
    return {name: flag == "True" for name, flag in zip(WATCHED, out, strict=True)}


def _importtime(src: Path, top: int) -> list[tuple[int, str]]:
    """The *top* largest cumulative times (µs) of ``-X importtime``, below the top-level import."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import transports"],
        env=_env(src),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="fresh interpreters per contender")
    parser.add_argument("--before", type=Path, help="the src directory of the tree to compare with")
    parser.add_argument("--top", type=int, default=8, help="lines of -X importtime to show per tree")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(argv)

    contenders: dict[str, tuple[str, Path | None]] = {
        "empty": ("pass", None),
        "raw": ("import socket", None),
        "ours": ("import transports", SRC),
    }
    if options.before is not None:
        contenders["before"] = ("import transports", options.before)
    for code, src in contenders.values():  # warm the file cache and the bytecode
        _once(code, src)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(options.runs):
        for name, (code, src) in contenders.items():
            times[name].append(_once(code, src))

    median = {name: statistics.median(values) for name, values in times.items()}
    cost = {name: median[name] - median["empty"] for name in contenders}
    print(f"{options.runs} fresh interpreters each, Python {sys.version.split()[0]}; median wall time")
    print(f"{'contender':<8} {'median ms':>10} {'import ms':>10} {'vs raw':>8}")
    for name in contenders:
        # import socket costs ~2 ms: below 0.5 ms of difference the ratio is noise, so say so.
        vs_raw = f"{cost[name] / cost['raw']:.2f}" if name != "empty" and cost["raw"] > 0.5e-3 else "n/a"
        print(f"{name:<8} {median[name] * 1e3:>10.1f} {cost[name] * 1e3:>10.1f} {vs_raw:>8}")
    figures: dict[str, object] = {"runs": options.runs, "median_s": median, "import_s": cost}
    if "before" in contenders:
        ratio = cost["ours"] / cost["before"]
        figures["ours_over_before"] = ratio
        print(f"ours / before (import cost): {ratio:.2f}")

    trees = {"ours": SRC} | ({"before": options.before} if options.before is not None else {})
    own: dict[str, int] = {}
    for name, src in trees.items():
        loaded = _loaded(src)
        figures[f"{name}_loads"] = loaded
        print(f"\n{name}: loads " + ", ".join(f"{m}={'yes' if on else 'no'}" for m, on in loaded.items()))
        rows = _importtime(src, options.top)
        own[name] = rows[0][0]  # the largest cumulative row is `transports` itself
        for cumulative, module in rows:
            print(f"  {cumulative / 1e3:8.1f} ms  {module}")
    if "before" in own:
        figures["importtime_ours_over_before"] = own["ours"] / own["before"]
        print(
            f"\n-X importtime, cumulative for transports: ours / before = {own['ours'] / own['before']:.2f}"
        )
    if options.json is not None:
        options.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
