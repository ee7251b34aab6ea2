"""Every script in examples/ runs to completion and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# What each example must print: a line proving its point was made.
EXPECTED: dict[str, list[str]] = {
    "echo_tcp.py": ["sent b'transports', got back b'transports'"],
    "datagrams.py": [
        "UDPTransport: 500 bytes into 64: truncated=True, real size 500",
        "UDPTransport: 65508 bytes refused, limit 65507",
        "UnixDatagramTransport: b'one' then b'two'",
    ],
    "socketpair_child.py": ["the child read: what is a socketpair?", "child exited with 0"],
    "open_server.py": [
        "first line of notes.txt: hello from the open server",
        "refused ../../etc/passwd: error: ../../etc/passwd is outside the served directory",
        "refused missing.txt: error: No such file or directory",
        "server exited with 0",
    ],
    "fork_socketpair.py": ["got b'ping'", "got b'what is a socketpair?'", "child exited with 0"],
    "peer_credentials.py": [
        "the peer is the child process: True",
        "it says: hello from the child",
        "refused uid ",
        "the refused client saw the connection end: True",
    ],
    "tls_echo.py": [
        "certificate of 'localhost' verified",
        "sent b'transports', got back b'transports'",
        "after close_notify the server ended cleanly: recv() -> b''",
        "a client without our CA is refused: unable to get local issuer certificate (host 'localhost')",
    ],
}


def test_every_example_is_listed() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts == set(EXPECTED), "add new examples to EXPECTED so they run in the tests"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    for line in EXPECTED[name]:
        assert line in result.stdout, result.stdout
