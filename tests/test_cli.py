"""The ``transports`` command: every subcommand in a real process.

Every failure is one line on stderr: exit status 1 for a failure while
running, 2 for a command line that cannot work, 130 for Ctrl-C.
"""

from __future__ import annotations

import contextlib
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
import threading
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
    assert result.stderr == (
        "transports demo: error: unknown demo kind 'carrier-pigeon'; choose from "
        f"{', '.join(DEMOS)}; see transports demo --help\n"
    )


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
    assert result.stdout.startswith(f"transports {transports.__version__} (distribution typed-transports, ")


# -- serve, send, recv, bench: real processes on loopback ------------------------------------------

#: Every wait for a CLI process is bounded by this many seconds.
WAIT = 30.0
REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-W", "error::ResourceWarning", "-m", "transports"]


class Background:
    """A CLI command running in its own process; killed if a test leaves it running."""

    def __init__(self, *args: str, cwd: Path | None = None, stdin: int = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
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

    def close_stdin(self) -> None:
        """End the command's stdin (a pipe when started with stdin=subprocess.PIPE)."""
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            self.proc.stdin = None  # communicate() would flush it again

    def finish(self) -> tuple[int, bytes, str]:
        """Wait for the exit (WAIT seconds at most): (status, stdout, rest of stderr)."""
        self.close_stdin()
        out, err = self.proc.communicate(timeout=WAIT)
        return self.proc.returncode, out, (self._err + err).decode()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.close_stdin()
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


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], *words: str, status: int = 1) -> None:
    """One line on stderr naming *words*; exit *status*: 1 for a runtime failure, 2 for a usage error."""
    err = result.stderr.decode()
    assert result.returncode == status, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.endswith("\n"), err
    if status == 2:
        # argparse's form, without its usage block: "transports serve: error: ...; see transports serve --help"
        prog = err.partition(": error: ")[0]
        assert re.fullmatch(r"transports( \w+)?", prog), err
        assert err.endswith(f"; see {prog} --help\n"), err
        assert "usage:" not in err, err
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
    assert_one_line_error(
        run_bounded("recv", "udp://127.0.0.1:0"),
        "transports recv: error: ",
        "serve URL --sink FILE",
        status=2,
    )


def _refusing_port() -> int:
    """A loopback port nobody listens on (it was just bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("serve", "tcp://127.0.0.1:0", "--echo", "--bogus"), ("transports serve: error: ", "--bogus")),
        (("serve", "tcp://127.0.0.1:0"), ("transports serve: error: ", "--echo --discard --sink")),
        (("serve", "tcp://127.0.0.1:0", "--echo", "--discard"), ("not allowed with",)),
        (("serve", "tcp://127.0.0.1:0", "--echo", "--timeout", "soon"), ("--timeout", "'soon'")),
        (("serve", "tcp://127.0.0.1:0", "--echo", "--max-connections", "0"), ("at least 1",)),
        (("send",), ("transports send: error: ", "URL")),
        (("send", "tcp://127.0.0.1:9", "a", "b"), ("unrecognized arguments: b",)),
        (("recv", "tcp://127.0.0.1:0", "--progress=yes"), ("transports recv: error: ",)),
        (("carrier-pigeon",), ("transports: error: ", "invalid choice", "'carrier-pigeon'")),
        (("--bogus",), ("transports: error: ", "--bogus")),
        # A URL that cannot be parsed is a bad argument too, found before anything is opened.
        (("send", "tcp://127.0.0.1", "-"), ("missing port",)),
        (("send", "carrier-pigeon://x", "-"), ("unknown URL scheme 'carrier-pigeon'", "tcp")),
        (("serve", "tcp://127.0.0.1:99999", "--echo"), ("out of range",)),
    ],
)
def test_usage_error_is_one_line_and_exits_2(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_one_line_error(run_bounded(*args), *words, status=2)


def test_usage_error_in_process_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "tcp://127.0.0.1:0", "--echo", "--bogus"]) == 2  # no SystemExit
    err = capsys.readouterr().err
    assert err == "transports serve: error: unrecognized arguments: --bogus; see transports serve --help\n"


def test_bad_url_leaves_the_sink_file_alone(tmp_path: Path) -> None:
    sink = tmp_path / "keep.bin"
    sink.write_bytes(b"precious")
    assert_one_line_error(
        run_bounded("serve", "tcp://127.0.0.1", "--sink", str(sink)), "missing port", status=2
    )
    assert sink.read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("recv", "tcp://256.1.1.1:80", "--connect"), ("256.1.1.1",)),
        (
            ("serve", "udp://127.0.0.1:0", "--sink", "/nonexistent-dir/sink.bin"),
            ("/nonexistent-dir/sink.bin",),
        ),
        (("send", "tcp://127.0.0.1:9", "/nonexistent-dir/file.bin"), ("no such file", "file.bin")),
    ],
)
def test_runtime_failure_exits_1_with_one_line(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_one_line_error(run_bounded(*args), *words)


def test_line_too_long_for_a_message_exits_1() -> None:
    port = _refusing_port()
    result = run_bounded("send", f"udp://127.0.0.1:{port}", "--lines", "-", stdin=b"x" * 70000)
    assert_one_line_error(result, "65507 bytes", "send without --lines")


@pytest.mark.parametrize("command", ["send", "recv"])
def test_refused_connection_exits_1_with_one_line(command: str) -> None:
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
def test_permission_denied_exits_1(tmp_sock_dir: Path) -> None:
    locked = tmp_sock_dir / "locked"
    locked.mkdir(mode=0o500)
    result = run_bounded("recv", "tcp://127.0.0.1:0", str(locked / "out.bin"))
    assert_one_line_error(result, "permission denied")


def test_address_in_use_exits_1() -> None:
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
    assert_one_line_error(run_bounded("serve", "tcp://127.0.0.1:0"), "--echo", status=2)


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


def test_bench_outside_a_checkout_exits_1(tmp_path: Path) -> None:
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


# -- send against serve --echo: both directions at once (issue 13, point 4) -------------------------


def send_to_file(*args: str, out: Path) -> subprocess.CompletedProcess[bytes]:
    """``transports send ...`` with its stdout (the peer's answer) going to *out*."""
    with out.open("wb") as answer:
        return subprocess.run(
            [*CLI, "send", *args],
            stdin=subprocess.DEVNULL,
            stdout=answer,
            stderr=subprocess.PIPE,
            timeout=WAIT,
            check=False,
        )


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["tcp", "unix"])
def test_send_64_mib_to_an_echo_gets_it_all_back(scheme: str, tmp_sock_dir: Path) -> None:
    # Sending everything before reading a byte hung from 1 MiB (Unix) and 32 MiB (TCP): the
    # echo server blocks on a full socket buffer while send blocks on the other one.
    source, answer = tmp_sock_dir / "in.bin", tmp_sock_dir / "answer.bin"
    source.write_bytes(os.urandom(64 << 20))
    with Background("serve", stream_url(scheme, tmp_sock_dir), "--echo", "--once") as server:
        sent = send_to_file(server.url(), str(source), out=answer)
        assert sent.returncode == 0, sent.stderr
        assert sent.stderr == b""
        status, _, err = server.finish()
    assert status == 0, err
    assert answer.stat().st_size == source.stat().st_size
    assert digest(answer) == digest(source)


@pytest.mark.slow
def test_send_stdin_pipe_to_an_echo_gets_it_all_back(tmp_sock_dir: Path) -> None:
    # Not a regular file: the copy loop instead of sendfile(2), reading a pipe.
    data = os.urandom(8 << 20)
    with Background("serve", f"unix://{tmp_sock_dir}/echo.sock", "--echo", "--once") as server:
        sent = run_bounded("send", server.url(), "-", stdin=data)
        assert sent.returncode == 0, sent.stderr
        assert hashlib.sha256(sent.stdout).digest() == hashlib.sha256(data).digest()
        assert server.finish()[0] == 0


@pytest.mark.slow
def test_send_to_a_seqpacket_echo_gets_every_message_back(tmp_sock_dir: Path) -> None:
    source, answer = tmp_sock_dir / "in.bin", tmp_sock_dir / "answer.bin"
    source.write_bytes(os.urandom(8 << 20))
    with Background("serve", f"unixpacket://{tmp_sock_dir}/echo.sock", "--echo", "--once") as server:
        sent = send_to_file(server.url(), str(source), out=answer)
        assert sent.returncode == 0, sent.stderr
        assert server.finish()[0] == 0
    assert digest(answer) == digest(source)


@pytest.mark.slow
def test_send_to_a_unixgram_echo_does_not_stall_the_server(tmp_sock_dir: Path) -> None:
    # A Unix datagram peer that does not read fills its queue; the server drops its echoes
    # (saying so once) instead of blocking on it while the peer blocks on the server.
    source = tmp_sock_dir / "in.bin"
    source.write_bytes(os.urandom(8 << 20))
    with Background("serve", f"unixgram://{tmp_sock_dir}/echo.sock", "--echo") as server:
        url = server.url()
        sent = run_bounded("send", url, str(source))
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == b""  # datagrams: no answer is awaited
        # Still serving: a new client gets its echo.
        with transports.UnixDatagramTransport.bind(str(tmp_sock_dir / "client.sock"), timeout=WAIT) as client:
            client.send_to(b"still there?", str(tmp_sock_dir / "echo.sock"))
            assert client.recv(100) == b"still there?"
        server.proc.send_signal(signal.SIGTERM)
        status, _, err = server.finish()
    assert status == 0, err
    assert "dropped the echo to" in err
    assert "is it reading?" in err
    assert err.count("dropped the echo to") == 1, err


def test_send_reads_the_answer_while_stdin_is_still_open() -> None:
    # The answer is copied to stdout as it arrives, not after the half-close.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        port = listener.getsockname()[1]
        with Background("send", f"tcp://127.0.0.1:{port}", "-", stdin=subprocess.PIPE) as sender:
            assert sender.proc.stdin is not None
            assert sender.proc.stdout is not None
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(WAIT)
                conn.sendall(b"greeting\n")
                assert read_line(sender.proc.stdout.fileno()) == b"greeting\n"  # stdin still open
                sender.proc.stdin.write(b"bye")
                sender.close_stdin()
                assert recv_until_eof(conn) == b"bye"  # the half-close came after stdin ended
                conn.sendall(b"after\n")
            status, out, err = sender.finish()
    assert status == 0, err
    assert out == b"after\n"


def read_line(fd: int) -> bytes:
    """Read from *fd* up to a newline, waiting at most WAIT seconds."""
    got = b""
    deadline = time.monotonic() + WAIT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not got.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"no line within {WAIT} s: {got!r}")
            chunk = os.read(fd, 1)
            if not chunk:
                raise AssertionError(f"end of output after {got!r}")
            got += chunk
    return got


def recv_until_eof(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_send_timeout_does_not_count_the_time_spent_sending() -> None:
    # stdin trickles in for longer than --timeout while the peer answers nothing: no timeout,
    # because waiting for an answer while still sending is not waiting for the peer.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        port = listener.getsockname()[1]
        args = ("send", f"tcp://127.0.0.1:{port}", "-", "--timeout", "0.3")
        with Background(*args, stdin=subprocess.PIPE) as sender:
            assert sender.proc.stdin is not None
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(WAIT)
                pause = threading.Event()
                for piece in (b"a", b"b", b"c", b"d"):
                    sender.proc.stdin.write(piece)
                    sender.proc.stdin.flush()
                    assert conn.recv(1) == piece
                    pause.wait(0.2)  # a slow source: 0.8 s in all, longer than the timeout
                sender.close_stdin()
                assert conn.recv(1) == b""  # half-closed
                conn.sendall(b"done")
            status, out, err = sender.finish()
    assert status == 0, err
    assert out == b"done"


def test_send_timeout_after_the_half_close_exits_1() -> None:
    results: list[subprocess.CompletedProcess[bytes]] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        port = listener.getsockname()[1]
        args = ("send", f"tcp://127.0.0.1:{port}", "-", "--timeout", "0.5")
        runner = threading.Thread(target=lambda: results.append(run_bounded(*args, stdin=b"question")))
        runner.start()
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(WAIT)
                assert recv_until_eof(conn) == b"question"
                half_closed = time.monotonic()
                runner.join(WAIT)  # this peer stays silent with the connection open
                waited = time.monotonic() - half_closed
        finally:
            runner.join(WAIT)
    assert not runner.is_alive()
    assert_one_line_error(results[0], "timed out", "0.5 s")
    assert 0.4 < waited < WAIT  # the silence after the half-close is what counts


@pytest.mark.slow
def test_send_to_a_peer_that_never_reads_times_out(tmp_sock_dir: Path) -> None:
    source = tmp_sock_dir / "in.bin"
    source.write_bytes(os.urandom(16 << 20))
    with transports.UnixListener.listen(str(tmp_sock_dir / "deaf.sock"), timeout=WAIT) as listener:
        url = listener.address.url("unix")
        results: list[subprocess.CompletedProcess[bytes]] = []
        args = ("send", url, str(source), "--timeout", "0.5")
        runner = threading.Thread(target=lambda: results.append(run_bounded(*args)))
        runner.start()
        try:
            with listener.accept():  # accepted, never read
                runner.join(WAIT)
        finally:
            runner.join(WAIT)
    assert not runner.is_alive()
    assert_one_line_error(results[0], "sendfile", "timed out", "bytes were sent")


@pytest.mark.parametrize("answer_ended", [False, True], ids=["reading-answer", "answer-ended"])
def test_ctrl_c_during_send_exits_130_at_once(answer_ended: bool) -> None:
    # answer-ended: the peer half-closed first, so send has read the whole answer and only
    # waits for its sending thread, which waits for stdin.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        port = listener.getsockname()[1]
        with Background("send", f"tcp://127.0.0.1:{port}", "-", stdin=subprocess.PIPE) as sender:
            assert sender.proc.stdin is not None
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(WAIT)
                if answer_ended:
                    conn.shutdown(socket.SHUT_WR)
                sender.proc.stdin.write(b"x")
                sender.proc.stdin.flush()
                assert conn.recv(1) == b"x"  # sending: one thread waits on stdin, one on the socket
                interrupted = time.monotonic()
                sender.proc.send_signal(signal.SIGINT)
                sender.proc.wait(timeout=WAIT)  # stdin stays open meanwhile
                waited = time.monotonic() - interrupted
                assert conn.recv(1) == b""  # the connection was shut down on the way out
            status, out, err = sender.finish()
    assert status == 130, err
    assert err == "interrupted\n"
    assert out == b""
    # The thread reading stdin (a pipe still open) was woken, not waited for.
    assert waited < 2.5, waited


def test_stdout_closed_early_exits_1_quietly(tmp_sock_dir: Path) -> None:
    source = tmp_sock_dir / "in.bin"
    source.write_bytes(os.urandom(4 << 20))
    with Background("serve", "tcp://127.0.0.1:0", "--echo", "--once") as server:
        url = server.url()
        reader, writer = os.pipe()
        os.close(reader)  # like `| head` that has already gone
        try:
            sent = subprocess.run(
                [*CLI, "send", url, str(source)],
                stdin=subprocess.DEVNULL,
                stdout=writer,
                stderr=subprocess.PIPE,
                timeout=WAIT,
                check=False,
            )
        finally:
            os.close(writer)
        server.finish()
    assert sent.returncode == 1, sent.stderr
    assert sent.stderr == b""
