"""A one-line progress bar for ``transports send`` and ``recv`` (:apue:`14.7`).

The transfer calls :meth:`ProgressBar.update` with its running total (the
``progress`` callback of ``sendfile``/``recv_into_file``); the bar redraws
at most ten times a second on its stream, showing bytes, rate and, when the
total is known, percent and ETA. Forty lines of our own instead of a
dependency.
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["ProgressBar", "human_bytes"]

_WIDTH = 24
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(count: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in _UNITS[:-1]:
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} {_UNITS[-1]}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class ProgressBar:
    """Redraws ``[#####.....]  42%  12.0 MiB / 28.6 MiB  1.2 GiB/s  ETA 0:02`` in place."""

    def __init__(self, out: TextIO, total: int | None, label: str) -> None:
        self._out = out
        self._total = total
        self._label = label
        self._start = time.monotonic()
        self._drawn = 0.0
        self._done = 0

    def update(self, done: int) -> None:
        """The transfer's running total; redraws at most every 0.1 s."""
        self._done = done
        now = time.monotonic()
        if now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)

    def finish(self) -> None:
        """Draw the final state and end the line."""
        self._draw(time.monotonic())
        self._out.write("\n")
        self._out.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self._done / elapsed
        text = f"{self._label} {human_bytes(self._done)}"
        if self._total:
            share = min(self._done / self._total, 1.0)
            filled = round(share * _WIDTH)
            left = (self._total - self._done) / rate if rate else 0.0
            text = (
                f"{self._label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {share:4.0%} "
                f"{human_bytes(self._done)} / {human_bytes(self._total)}"
            )
            text += f"  {human_bytes(rate)}/s  ETA {_clock(left)}"
        else:
            text += f"  {human_bytes(rate)}/s  {_clock(elapsed)}"
        self._out.write(f"\r{text}\x1b[K")
        self._out.flush()
