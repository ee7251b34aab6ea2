"""A one-line progress bar for ``transports send`` and ``recv`` (:apue:`14.7`).

The transfer calls :meth:`ProgressBar.update` with its running total (the
``progress`` callback of ``sendfile``/``recv_into_file``); the bar redraws
at most ten times a second on its stream, showing bytes, rate and, when the
total is known, percent and ETA. The line fits the terminal's width: as
it shrinks, the bar narrows, then goes, then the rate, ETA and label go.
Sixty lines of our own instead of a dependency.
"""

from __future__ import annotations

import shutil
import time
from typing import TextIO

__all__ = ["ProgressBar", "human_bytes"]

#: The bar's width in characters, at most and at least (below that, no bar).
_WIDTH = 24
_MIN_WIDTH = 5
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
        self._out.write(f"\r{self.line(now)}\x1b[K")
        self._out.flush()

    def line(self, now: float) -> str:
        """The bar as drawn at *now*, cut to fit the terminal's width (``COLUMNS`` first, as ls does)."""
        # One column short of the width: a character in the last column wraps on some terminals.
        room = max(shutil.get_terminal_size().columns - 1, 1)
        elapsed = max(now - self._start, 1e-9)
        rate = self._done / elapsed
        if not self._total:
            return _fit(
                f"{self._label} {human_bytes(self._done)}  {human_bytes(rate)}/s  {_clock(elapsed)}", room
            )
        share = min(self._done / self._total, 1.0)
        left = (self._total - self._done) / rate if rate else 0.0
        numbers = f"{share:4.0%} {human_bytes(self._done)} / {human_bytes(self._total)}"
        tail = f"  {human_bytes(rate)}/s  ETA {_clock(left)}"
        # What to keep as the width shrinks: the bar goes first, then rate and ETA, then the label.
        for head, rest in ((self._label + " ", numbers + tail), ("", numbers + tail), ("", numbers)):
            width = min(_WIDTH, room - len(head) - len(rest) - 3)
            if width >= _MIN_WIDTH:
                filled = round(share * width)
                return f"{head}[{'#' * filled}{'.' * (width - filled)}] {rest}"
        return _fit(numbers.lstrip(), room)


def _fit(text: str, room: int) -> str:
    """*text* cut to *room* characters, its end marked with '~' when cut."""
    return text if len(text) <= room else text[: room - 1] + "~"
