"""The progress bar of ``transports send`` and ``recv`` fits the terminal's width."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from transports.cli.progress import ProgressBar

MiB = 1 << 20


def drawn_lines(out: io.StringIO) -> list[str]:
    """Every redraw the bar wrote: the text between carriage returns, without the erase-line code."""
    return [part.replace("\x1b[K", "").rstrip("\n") for part in out.getvalue().split("\r") if part]


@pytest.mark.parametrize("columns", [10, 20, 30, 40, 60, 80, 200])
@pytest.mark.parametrize("total", [None, 0, 3 * MiB, 10 * 1024 * MiB * 1024])
def test_every_line_fits(monkeypatch: pytest.MonkeyPatch, columns: int, total: int | None) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    out = io.StringIO()
    bar = ProgressBar(out, total, "send a-file-with-a-rather-long-name.iso")
    for done in (0, 1, 1500 * MiB, 3 * MiB):
        bar.update(done)
        # Over an hour in: the longest ETA and elapsed time.
        out.write("\r" + bar.line(time.monotonic() + 3725.0))
    bar.finish()
    lines = drawn_lines(out)
    assert len(lines) >= 3
    too_long = [line for line in lines if len(line) > columns - 1]
    assert not too_long, too_long


def test_a_wide_terminal_shows_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    bar = ProgressBar(io.StringIO(), 10 * MiB, "send x")
    bar.update(5 * MiB)
    line = bar.line(time.monotonic() + 1.0)
    assert line.startswith("send x [" + "#" * 12 + "." * 12 + "]  50% 5.0 MiB / 10.0 MiB")
    # The rate and ETA depend on how long the test took to get here; their form does not.
    assert re.search(r"  \d\.\d MiB/s  ETA 0:0\d$", line), line


def test_a_narrow_terminal_drops_the_bar_before_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    bar = ProgressBar(io.StringIO(), 10 * MiB, "send x")
    bar.update(5 * MiB)
    line = bar.line(time.monotonic() + 1.0)
    assert "50% 5.0 MiB / 10.0 MiB" in line
    assert len(line) <= 39


def test_send_with_progress_in_a_40_column_terminal(tmp_path: Path) -> None:
    """``transports send --progress`` to a listener: each line of stderr fits 40 columns."""
    source = tmp_path / "data.bin"
    source.write_bytes(b"x" * (4 * MiB))
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        port = server.getsockname()[1]
        received = bytearray()

        def drain() -> None:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(30)
                while chunk := conn.recv(1 << 16):
                    received.extend(chunk)

        reader = threading.Thread(target=drain)
        reader.start()
        try:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "transports",
                    "send",
                    f"tcp://127.0.0.1:{port}",
                    str(source),
                    "--progress",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, "COLUMNS": "40"},
            )
        finally:
            reader.join(timeout=30)
        assert not reader.is_alive()
    assert result.returncode == 0, result.stderr
    assert len(received) == 4 * MiB
    lines = [part.replace("\x1b[K", "") for part in result.stderr.replace("\n", "\r").split("\r") if part]
    assert lines
    assert all(len(line) <= 39 for line in lines), lines
