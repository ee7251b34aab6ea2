"""examples/handoff: a server replaces itself three times while clients hammer it; none is refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "examples" / "handoff" / "handoff_client.py"


def test_the_server_replaces_itself_without_refusing_a_connection() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(CLIENT), "--swaps", "3", "--between", "10"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(
        r"3 swaps, 2 clients: (\d+) connections answered \(4 generations\), 0 refused, 0 failed",
        result.stdout,
    )
    assert summary, result.stdout
    assert int(summary[1]) >= 40  # at least --between answers from each of the four generations
    for generation in range(4):
        assert re.search(rf"generation {generation} drained: answered \d+, cut 0", result.stdout), (
            result.stdout
        )
    assert "hand-off from SIGHUP to released" in result.stdout
    assert result.stderr == ""
