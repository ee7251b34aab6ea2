"""The guarantees SECURITY.md states: the ones not tested elsewhere, and that its pointers are real.

Most guarantees are tested where their code is tested (SECURITY.md names
each test); this file adds the source scan for code-execution primitives,
checks that plain receives never install passed descriptors, that frame
limits are on by default, and that every test SECURITY.md points to exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import TIMEOUT, assert_no_fd_leak
from transports import LineStream, MessageStream, socketpair
from transports.framing import DEFAULT_MAX_LINE, DEFAULT_MAX_SIZE
from transports.unix import UnixDatagramTransport, UnixSeqpacketTransport, UnixStreamTransport

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "transports"

#: What would let bytes from a peer (or a file) become code, or reach a shell.
FORBIDDEN = {
    "pickle": re.compile(r"\bc?pickl", re.IGNORECASE),
    "marshal": re.compile(r"\bmarshal\b"),
    "eval(": re.compile(r"\beval\s*\("),
    "exec(": re.compile(r"\bexec\s*\("),
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "os.system(": re.compile(r"\bos\.system\s*\("),
    "yaml.load(": re.compile(r"\byaml\.load\s*\("),
}

#: (file under src/transports, text on the line, why it is harmless). Keep it short.
ALLOWED = [
    (
        "errors.py",
        "# OSError pickles through args only",
        "a comment: our exceptions can be pickled by users (multiprocessing); nothing here unpickles",
    ),
    (
        "errors.py",
        "# ValueError pickles through args",
        "the same, for UnknownScheme",
    ),
]


def _allowed(path: Path, line: str) -> bool:
    return any(path.name == name and text in line for name, text, _ in ALLOWED)


def test_no_code_execution_primitives_in_the_library() -> None:
    found = []
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) > 10, "the scan found no sources"
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name, pattern in FORBIDDEN.items():
                if pattern.search(line) and not _allowed(path, line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {name}: {line.strip()}")
    assert not found, "code-execution primitives in src/ (add to ALLOWED only with a reason):\n" + "\n".join(
        found
    )


def test_the_scan_can_fail() -> None:
    # The patterns catch what they are meant to, and not their harmless cousins.
    assert FORBIDDEN["eval("].search("x = eval(data)")
    assert FORBIDDEN["exec("].search("exec (code)")
    assert FORBIDDEN["pickle"].search("import cPickle")
    assert FORBIDDEN["shell=True"].search("subprocess.run(cmd, shell = True)")
    assert not FORBIDDEN["eval("].search("self.evaluate(x)")
    assert not FORBIDDEN["exec("].search("os.execv(path, args)")


def test_every_allowance_is_still_needed() -> None:
    for name, text, reason in ALLOWED:
        assert reason
        assert text in (SOURCE / name).read_text(encoding="utf-8"), f"stale allowance: {name}: {text}"


@pytest.mark.parametrize("cls", [UnixStreamTransport, UnixDatagramTransport, UnixSeqpacketTransport])
def test_plain_receives_never_install_passed_descriptors(cls: type[UnixStreamTransport]) -> None:
    # recv and recv_into ask for no ancillary data: the kernel must drop the
    # descriptors a message carries, not leave them installed for nobody to close.
    a, b = cls.pair()
    read_end, write_end = os.pipe()
    try:
        with a, b:
            b.timeout = TIMEOUT
            with assert_no_fd_leak():
                a.send_fds(b"first", [read_end, write_end])
                a.send_fds(b"second", [read_end])
                assert b.recv(5) == b"first"
                buffer = bytearray(6)
                assert b.recv_into(buffer) == 6
                assert buffer == b"second"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_frame_limits_are_on_by_default() -> None:
    a, b = socketpair()
    with MessageStream(a) as messages, LineStream(b) as lines:
        assert messages.max_size == DEFAULT_MAX_SIZE == 16 * 1024 * 1024
        assert lines.max_length == DEFAULT_MAX_LINE == 64 * 1024


def test_security_md_points_at_real_tests() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    pointers = re.findall(r"(tests/test_\w+\.py)::(test_\w+)", text)
    assert len(pointers) >= 15
    missing = [
        f"{file}::{name}"
        for file, name in pointers
        if not re.search(rf"^def {name}\(", (ROOT / file).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"
