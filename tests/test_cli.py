"""The ``transports`` command: every subcommand in a real process; bad input exits 2 with one line."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import transports
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


# -- serve, send, recv, bench: real processes on loopback ------------------------------------------

#: Every wait for a CLI process is bounded by this many seconds.
WAIT = 30.0
REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-W", "error::ResourceWarning", "-m", "transports"]


class Background:
    """A CLI command running in its own process; killed if a test leaves it running."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
        )
        self._err = b""

    def first_line(self) -> str:
        """The first line on stderr (a listening command's bound URL), waiting at most WAIT seconds."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + WAIT
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._err:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise AssertionError(f"no line on stderr within {WAIT} s: {self._err!r}")
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError(f"the command ended first: {self._err!r}")
                self._err += chunk
        line, _, self._err = self._err.partition(b"\n")
        return line.decode()

    def url(self) -> str:
        line = self.first_line()
        assert line.startswith("listening on "), line
        return line.removeprefix("listening on ")

    def finish(self) -> tuple[int, bytes, str]:
        """Wait for the exit (WAIT seconds at most): (status, stdout, rest of stderr)."""
        out, err = self.proc.communicate(timeout=WAIT)
        return self.proc.returncode, out, (self._err + err).decode()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=WAIT)


def run_bounded(
    *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        timeout=WAIT,
        check=False,
        cwd=cwd,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], *words: str) -> None:
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    for word in words:
        assert word in err, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stream_url(scheme: str, directory: Path) -> str:
    return "tcp://127.0.0.1:0" if scheme == "tcp" else f"unix://{directory}/cli.sock"


@pytest.mark.parametrize("scheme", ["tcp", "unix"])
def test_serve_echo_and_send_file(scheme: str, tmp_sock_dir: Path) -> None:
    source = tmp_sock_dir / "in.txt"
    source.write_bytes(b"hello\nover the wire\n")
    with Background("serve", stream_url(scheme, tmp_sock_dir), "--echo", "--once") as server:
        url = server.url()
        assert url.startswith(f"{scheme}:")
        sent = run_bounded("send", url, str(source))
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == source.read_bytes()  # the echo came back to stdout
        assert sent.stderr == b""  # no progress bar when stderr is not a terminal
        status, _, err = server.finish()
    assert status == 0, err


def test_send_reads_stdin(tmp_sock_dir: Path) -> None:
    with Background("serve", "tcp://127.0.0.1:0", "--echo", "--once") as server:
        sent = run_bounded("send", server.url(), "-", stdin=b"from stdin")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == b"from stdin"
        assert server.finish()[0] == 0


def test_serve_sink_and_send_file_arrive_identical(tmp_sock_dir: Path) -> None:
    source, sink = tmp_sock_dir / "big.bin", tmp_sock_dir / "sink.bin"
    source.write_bytes(os.urandom(3 << 20 | 12345))
    with Background("serve", "tcp://127.0.0.1:0", "--sink", str(sink), "--max-connections", "1") as server:
        sent = run_bounded("send", server.url(), str(source), "--progress")
        assert sent.returncode == 0, sent.stderr
        status, _, err = server.finish()
    assert status == 0, err
    assert digest(sink) == digest(source)
    bar = sent.stderr.decode()
    assert "100%" in bar
    assert "ETA" in bar
    assert "/s" in bar


def test_serve_datagrams_one_message_per_line(tmp_sock_dir: Path) -> None:
    sink = tmp_sock_dir / "messages.bin"
    with Background("serve", "udp://127.0.0.1:0", "--sink", str(sink), "--max-connections", "3") as server:
        sent = run_bounded("send", server.url(), "--lines", "-", stdin=b"one\ntwo\nthree\n")
        assert sent.returncode == 0, sent.stderr
        status, _, err = server.finish()
    assert status == 0, err
    assert sink.read_bytes() == b"one\ntwo\nthree\n"


def test_serve_unixgram_echo(tmp_sock_dir: Path) -> None:
    with Background("serve", f"unixgram://{tmp_sock_dir}/dgram.sock", "--echo", "--once") as server:
        url = server.url()
        assert url == f"unixgram://{tmp_sock_dir}/dgram.sock"
        with transports.UnixDatagramTransport.bind(str(tmp_sock_dir / "client.sock"), timeout=WAIT) as client:
            client.send_to(b"ping", str(tmp_sock_dir / "dgram.sock"))
            assert client.recv(100) == b"ping"
        assert server.finish()[0] == 0


def test_serve_seqpacket_sink_keeps_message_per_line(tmp_sock_dir: Path) -> None:
    sink = tmp_sock_dir / "packets.bin"
    url = f"unixpacket://{tmp_sock_dir}/packet.sock"
    with Background("serve", url, "--sink", str(sink), "--once") as server:
        assert server.url() == url
        sent = run_bounded("send", url, "--lines", stdin=b"alpha\nbeta\n")
        assert sent.returncode == 0, sent.stderr
        status, _, err = server.finish()
    assert status == 0, err
    assert sink.read_bytes() == b"alpha\nbeta\n"


def test_recv_listens_and_writes_the_file(tmp_sock_dir: Path) -> None:
    source, target = tmp_sock_dir / "in.bin", tmp_sock_dir / "out.bin"
    source.write_bytes(os.urandom(1 << 20))
    with Background("recv", "tcp://127.0.0.1:0", str(target)) as receiver:
        sent = run_bounded("send", receiver.url(), str(source))
        assert sent.returncode == 0, sent.stderr
        status, out, err = receiver.finish()
    assert status == 0, err
    assert out == b""
    assert digest(target) == digest(source)


def test_recv_to_stdout(tmp_sock_dir: Path) -> None:
    with Background("recv", f"unix://{tmp_sock_dir}/recv.sock") as receiver:
        sent = run_bounded("send", receiver.url(), "-", stdin=b"to stdout")
        assert sent.returncode == 0, sent.stderr
        status, out, err = receiver.finish()
    assert status == 0, err
    assert out == b"to stdout"


def test_recv_connect() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(WAIT)
        port = server.getsockname()[1]
        with Background("recv", "--connect", f"tcp://127.0.0.1:{port}") as receiver:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"pushed by the server")
            status, out, err = receiver.finish()
    assert status == 0, err
    assert out == b"pushed by the server"


def test_recv_refuses_datagram_urls() -> None:
    assert_one_line_error(run_bounded("recv", "udp://127.0.0.1:0"), "serve URL --sink FILE")


def _refusing_port() -> int:
    """A loopback port nobody listens on (it was just bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("send", "tcp://127.0.0.1", "-"), ("missing port",)),
        (("send", "carrier-pigeon://x", "-"), ("unknown URL scheme 'carrier-pigeon'", "tcp")),
        (("serve", "tcp://127.0.0.1:99999", "--echo"), ("out of range",)),
        (("recv", "tcp://256.1.1.1:80", "--connect"), ("256.1.1.1",)),
        (
            ("serve", "udp://127.0.0.1:0", "--sink", "/nonexistent-dir/sink.bin"),
            ("/nonexistent-dir/sink.bin",),
        ),
        (("send", "tcp://127.0.0.1:9", "/nonexistent-dir/file.bin"), ("no such file", "file.bin")),
    ],
)
def test_bad_input_exits_2_with_one_line(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_one_line_error(run_bounded(*args), *words)


@pytest.mark.parametrize("command", ["send", "recv"])
def test_refused_connection_exits_2_with_one_line(command: str) -> None:
    port = _refusing_port()
    args = (
        ("send", f"tcp://127.0.0.1:{port}", "-")
        if command == "send"
        else ("recv", "--connect", f"tcp://127.0.0.1:{port}")
    )
    assert_one_line_error(run_bounded(*args, stdin=b"x"), "refused", f"127.0.0.1:{port}")


def test_refused_unix_connection_names_the_path(tmp_sock_dir: Path) -> None:
    missing = tmp_sock_dir / "nobody.sock"
    assert_one_line_error(run_bounded("send", f"unix://{missing}", "-", stdin=b"x"), str(missing))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied_exits_2(tmp_sock_dir: Path) -> None:
    locked = tmp_sock_dir / "locked"
    locked.mkdir(mode=0o500)
    result = run_bounded("recv", "tcp://127.0.0.1:0", str(locked / "out.bin"))
    assert_one_line_error(result, "permission denied")


def test_address_in_use_exits_2() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert_one_line_error(run_bounded("serve", f"tcp://127.0.0.1:{port}", "--discard"), "EADDRINUSE")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_serve_stops_cleanly_on_a_signal(sig: signal.Signals, status: int) -> None:
    with Background("serve", "tcp://127.0.0.1:0", "--discard") as server:
        server.url()  # listening, so blocked in accept
        server.proc.send_signal(sig)
        code, _, err = server.finish()
    assert code == status, err
    assert "Traceback" not in err


def test_serve_discard_handles_several_connections() -> None:
    with Background("serve", "tcp://127.0.0.1:0", "--discard", "--max-connections", "2") as server:
        url = server.url()
        for _ in range(2):
            sent = run_bounded("send", url, "-", stdin=b"dropped")
            assert sent.returncode == 0, sent.stderr
            assert sent.stdout == b""
        assert server.finish()[0] == 0


def test_serve_needs_a_mode() -> None:
    result = run_bounded("serve", "tcp://127.0.0.1:0")
    assert result.returncode == 2
    assert b"--echo" in result.stderr


def test_bench_quick_tiny(tmp_path: Path) -> None:
    record, picture = tmp_path / "bench.json", tmp_path / "bench.png"
    result = subprocess.run(
        [
            *CLI,
            "bench",
            "--quick",
            "--runs",
            "1",
            "--scale",
            "0.01",
            "--json",
            str(record),
            "--plot",
            str(picture),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(record.read_text())
    names = set(data["results"])
    for expected in (
        "bulk tcp 64KiB",
        "bulk unix 1MiB",
        "ping-pong tcp 64B",
        "ping-pong unix 1KiB",
        "datagrams udp 64B",
        "datagrams unixgram 64B",
        "connect tcp",
        "connect unix",
    ):
        assert expected in names
    assert any(name.startswith("file tcp") for name in names)
    row = data["results"]["ping-pong tcp 64B"]["contenders"]
    assert {"raw", "ours", "streams", "sock"} <= set(row)
    assert row["raw"]["ratio"] == 1.0
    assert "goals:" in result.stdout
    assert picture.exists() or "matplotlib is not installed" in result.stderr


def test_bench_outside_a_checkout_exits_2(tmp_path: Path) -> None:
    assert_one_line_error(run_bounded("bench", "--quick", cwd=tmp_path), "checkout")


def test_python_m_benchmarks_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout
