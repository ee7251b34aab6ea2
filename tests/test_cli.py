"""The ``transports`` command: the demo tours every kind; bad input exits 2 with one line."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from transports.cli import main
from transports.cli.demo import DEMOS, run_demo


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-m", "transports", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_runs_every_kind_and_names_apue_sections() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("\n== ") == len(DEMOS)
    for section in ("16.2", "16.4", "16.5", "16.6", "16.7", "17.2", "17.3"):
        assert f"[APUE {section}" in out
    # Every numbered step carries its APUE section.
    steps = [line for line in out.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert steps
    assert all("[APUE " in line for line in steps)
    assert "truncated=True" in out
    assert "MessageTooLarge(limit=65507)" in out
    assert "[b'one', b'two', b'three']" in out
    assert "mode 0o600" in out
    assert "removed its file: exists=False" in out


@pytest.mark.parametrize("kind", sorted(DEMOS))
def test_demo_single_kind(kind: str) -> None:
    buffer = io.StringIO()
    assert run_demo([kind], out=buffer) == 0
    assert buffer.getvalue().count("\n== ") == 1


def test_demo_unknown_kind_exits_2() -> None:
    result = run_cli("demo", "carrier-pigeon")
    assert result.returncode == 2
    assert "unknown demo kind 'carrier-pigeon'" in result.stderr
    assert "Traceback" not in result.stderr


def test_schemes_lists_builtin_schemes() -> None:
    result = run_cli("schemes")
    assert result.returncode == 0, result.stderr
    names = {line.split()[0] for line in result.stdout.splitlines()}
    assert {"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixgram", "unixpacket"} <= names


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("transports ")
