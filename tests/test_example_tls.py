"""examples/tls_echo.py with certificates the user brings (--cert, --key, --cafile) instead of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tls_echo.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tls_echo_with_certificates_from_files(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("echo.test")
    leaf.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    result = run(
        *("--cert", str(tmp_path / "server.pem"), "--key", str(tmp_path / "server.key")),
        *("--cafile", str(tmp_path / "ca.pem"), "--name", "echo.test"),
    )
    assert result.returncode == 0, result.stderr
    assert "certificate of 'echo.test' verified" in result.stdout
    assert "sent b'hello', got back b'hello'" in result.stdout
    assert "a client without our CA is refused" in result.stdout


def test_tls_echo_refuses_a_certificate_for_another_name(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("other.test")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    result = run(
        *("--cert", str(tmp_path / "server.pem"), "--key", str(tmp_path / "server.pem")),
        *("--cafile", str(tmp_path / "ca.pem"), "--name", "echo.test"),
    )
    assert result.returncode == 1
    assert "tls_echo.py: TLSCertificateError:" in result.stderr
    assert "echo.test" in result.stderr
    assert "Traceback" not in result.stderr


def test_tls_echo_wants_all_three_files() -> None:
    result = run("--cert", "server.pem")
    assert result.returncode == 2
    assert "pass all three of --cert, --key and --cafile" in result.stderr


def test_tls_echo_async() -> None:
    pytest.importorskip("trustme")
    result = run("--aio")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert "certificate of 'localhost' verified" in result.stdout
    assert "sent b'transports', got back b'transports'" in result.stdout
    assert "after close_notify the server ended cleanly: recv() -> b''" in result.stdout
    assert "a client without our CA is refused: unable to get local issuer certificate" in result.stdout
