"""The Magic 8-ball example end to end: server and clients as processes, over every kind (APUE 15.7, 15.11).

Each test starts ``examples/magic8ball/server.py`` (or its asyncio twin
``aio_server.py``) and its clients with ``sys.executable``, bounds every
wait with a timeout, and expects the server to stop by itself
(``--max-requests``) or on a signal. The tests that apply to both pairs
run once per pair (``threads`` and ``asyncio``), and each client is run
against the other pair's server: they speak one protocol. That the pool
really answers several questions at once is read from the server's own
count of overlapping answers, not from wall-clock time, so a slow machine
cannot make it fail.
"""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TIMEOUT
from transports import MessageStream, StreamTransport, connect

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "magic8ball"
PYTHON = [sys.executable, "-W", "error::ResourceWarning"]
#: Seconds a whole server run or client may take before the test gives up.
RUN_TIMEOUT = 60.0


class Processes:
    """Starts the example's programs and makes sure none outlives the test."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[str]] = []

    def run(self, script: str, *arguments: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*PYTHON, str(EXAMPLE / script), *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._started.append(process)
        return process

    def server(self, *arguments: str, script: str = "server.py") -> tuple[subprocess.Popen[str], str]:
        """Start *script* (server.py or aio_server.py); return it and the URL it printed once listening."""
        server = self.run(script, *arguments)
        assert server.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(server.stdout, selectors.EVENT_READ)
            assert selector.select(RUN_TIMEOUT), "the server did not start in time"
        line = server.stdout.readline()
        match = re.search(r"listening on (\S+)", line)
        assert match, f"no URL in {line!r}; stderr: {finish(server)[1]}"
        return server, match.group(1)

    def stop_all(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=RUN_TIMEOUT)


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait for *process* to end by itself; return its output and errors."""
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    return out, err


@pytest.fixture
def processes() -> Iterator[Processes]:
    helper = Processes()
    try:
        yield helper
    finally:
        helper.stop_all()


#: Each pair of programs: (server, client).
PAIRS = {"threads": ("server.py", "client.py"), "asyncio": ("aio_server.py", "aio_client.py")}


@pytest.fixture(params=sorted(PAIRS))
def pair(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The server and client scripts of the threaded pair, then of the asyncio pair."""
    return PAIRS[request.param]


def url_for(scheme: str, directory: Path) -> str:
    if scheme in ("tcp", "udp"):
        return f"{scheme}://127.0.0.1:0"
    return f"{scheme}://{directory / '8ball.sock'}"


def check_client(out: str, err: str, returncode: int | None, name: str, questions: list[str]) -> None:
    assert returncode == 0, err
    assert err == ""
    for question in questions:
        line = next(line for line in out.splitlines() if line.startswith(f"{name}: {question!r} -> "))
        assert "(no answer)" not in line
    assert f"{name}: {len(questions)} of {len(questions)} questions answered" in out


@pytest.mark.parametrize("scheme", ["tcp", "unix", "unixpacket", "udp", "unixgram"])
def test_every_client_gets_every_answer(
    scheme: str, pair: tuple[str, str], processes: Processes, tmp_sock_dir: Path
) -> None:
    server_script, client_script = pair
    server, url = processes.server(
        url_for(scheme, tmp_sock_dir),
        *("--workers", "3", "--delay", "0.05", "--max-requests", "9"),
        script=server_script,
    )
    assert url.startswith(f"{scheme}://")
    names = ["alice", "bob", "carol"]
    shared = "Is the answer the same for everyone?"
    questions = {name: [f"{name}'s question {n}?" for n in range(2)] + [shared] for name in names}
    clients = {name: processes.run(client_script, url, *questions[name], "--name", name) for name in names}
    same = set()
    for name, client in clients.items():
        out, err = finish(client)
        check_client(out, err, client.returncode, name, questions[name])
        same.add(next(line.split(" -> ")[1] for line in out.splitlines() if shared in line))
    assert len(same) == 1
    out, err = finish(server)
    assert server.returncode == 0, err
    assert err == ""
    assert "stopped (--max-requests 9 reached): answered 9 questions from 3 clients" in out
    assert list(tmp_sock_dir.iterdir()) == []  # the server removed its socket file


@pytest.mark.parametrize("scheme", ["unixpacket", "udp"])
def test_process_pool(scheme: str, processes: Processes, tmp_sock_dir: Path) -> None:
    server, url = processes.server(
        url_for(scheme, tmp_sock_dir),
        "--processes",
        "--workers",
        "2",
        "--delay",
        "0.05",
        "--max-requests",
        "4",
    )
    questions = ["One?", "Two?", "Three?", "Four?"]
    client = processes.run("client.py", url, *questions, "--name", "pool")
    out, err = finish(client)
    check_client(out, err, client.returncode, "pool", questions)
    out, err = finish(server)
    assert server.returncode == 0, err
    assert err == ""
    assert "answered 4 questions from 1 clients" in out


@pytest.mark.parametrize("mode", [[], ["--processes"]], ids=["threads", "processes"])
def test_workers_answer_side_by_side(mode: list[str], processes: Processes) -> None:
    # Four questions are queued together; with 0.5 s per answer two workers overlap
    # unless one of them could not run for half a second.
    server, url = processes.server(
        "tcp://127.0.0.1:0", *mode, "--workers", "4", "--delay", "0.5", "--max-requests", "4"
    )
    client = processes.run("client.py", url, "A?", "B?", "C?", "D?", "--name", "many")
    out, err = finish(client)
    check_client(out, err, client.returncode, "many", ["A?", "B?", "C?", "D?"])
    out, _ = finish(server)
    match = re.search(r"at most (\d+) answers at once", out)
    assert match, out
    assert int(match.group(1)) >= 2


def test_one_worker_answers_one_at_a_time(pair: tuple[str, str], processes: Processes) -> None:
    server, url = processes.server(
        "tcp://127.0.0.1:0", "--workers", "1", "--delay", "0.05", "--max-requests", "3", script=pair[0]
    )
    client = processes.run(pair[1], url, "A?", "B?", "C?", "--name", "one")
    out, err = finish(client)
    check_client(out, err, client.returncode, "one", ["A?", "B?", "C?"])
    out, _ = finish(server)
    assert "at most 1 answers at once" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_after_answering_what_was_asked(
    sig: signal.Signals, pair: tuple[str, str], processes: Processes
) -> None:
    server, url = processes.server("tcp://127.0.0.1:0", "--workers", "1", "--delay", "0.3", script=pair[0])
    with connect(url, timeout=TIMEOUT) as transport:
        assert isinstance(transport, StreamTransport)
        stream = MessageStream(transport)
        stream.send_message(b"1 first?")
        stream.send_message(b"2 second?")
        # The first answer proves both questions were read: they went out together.
        first = stream.recv_message()
        server.send_signal(sig)
        second = stream.recv_message()
        assert stream.recv_message() is None  # then the server closes the connection
    assert first is not None
    assert first.startswith(b"1 ")
    assert second is not None
    assert second.startswith(b"2 ")
    out, err = finish(server)
    assert server.returncode == 0, err
    assert f"stopped (got {sig.name}): answered 2 questions" in out


def test_client_reports_a_missing_server(
    pair: tuple[str, str], processes: Processes, tmp_sock_dir: Path
) -> None:
    client = processes.run(pair[1], f"unix://{tmp_sock_dir / 'nobody.sock'}", "--name", "lost")
    _, err = finish(client)
    assert client.returncode == 1
    assert "lost: connect to unix://" in err
    assert "is the server running?" in err


def test_measure_script_runs(processes: Processes) -> None:
    measure = processes.run("measure.py", "--clients", "2", "--delay", "0.05", "--workers", "1", "2")
    out, err = finish(measure)
    assert measure.returncode == 0, err
    assert "workers  wall time  vs serial" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+\d+\s", line)]
    assert [(row[0], row[-1]) for row in rows] == [("1", "1"), ("2", "2")]


def test_server_reports_a_bad_url(pair: tuple[str, str], processes: Processes) -> None:
    server = processes.run(pair[0], "quic://127.0.0.1:0")
    out, err = finish(server)
    assert server.returncode == 1
    assert out == ""
    assert "unknown URL scheme 'quic'" in err
    assert "tcp" in err


def test_rude_clients_do_not_stop_the_server(pair: tuple[str, str], processes: Processes) -> None:
    server, url = processes.server("tcp://127.0.0.1:0", "--delay", "0", "--max-requests", "1", script=pair[0])
    # One client hangs up in the middle of a question, another announces a 1 MiB one.
    with connect(url, timeout=TIMEOUT) as rude:
        assert isinstance(rude, StreamTransport)
        rude.send_all(b"\x00\x00\x00\x10half a")
    with connect(url, timeout=TIMEOUT) as greedy:
        assert isinstance(greedy, StreamTransport)
        greedy.send_all(b"\x00\x10\x00\x00")
        assert MessageStream(greedy).recv_message() is None  # the server hung up on it
    client = processes.run(pair[1], url, "Still there?", "--name", "polite")
    out, err = finish(client)
    check_client(out, err, client.returncode, "polite", ["Still there?"])
    out, err = finish(server)
    assert server.returncode == 0
    assert "answered 1 questions" in out
    assert "the peer ended the stream after 6 of the 16 bytes of a message" in err
    assert "the peer announced a 1048576-byte message, over this stream's limit of 4096 bytes" in err


def test_worker_tasks_answer_side_by_side(processes: Processes) -> None:
    server, url = processes.server(
        "tcp://127.0.0.1:0", "--workers", "4", "--delay", "0.3", "--max-requests", "4", script="aio_server.py"
    )
    client = processes.run("aio_client.py", url, "A?", "B?", "C?", "D?", "--name", "many")
    out, err = finish(client)
    check_client(out, err, client.returncode, "many", ["A?", "B?", "C?", "D?"])
    out, _ = finish(server)
    match = re.search(r"at most (\d+) answers at once", out)
    assert match, out
    assert int(match.group(1)) >= 2


@pytest.mark.parametrize("scheme", ["tcp", "unix", "udp"])
@pytest.mark.parametrize(
    ("server_script", "client_script"),
    [("aio_server.py", "client.py"), ("server.py", "aio_client.py")],
    ids=["threads-client", "asyncio-client"],
)
def test_the_two_pairs_speak_one_protocol(
    scheme: str, server_script: str, client_script: str, processes: Processes, tmp_sock_dir: Path
) -> None:
    server, url = processes.server(
        url_for(scheme, tmp_sock_dir), "--delay", "0.01", "--max-requests", "2", script=server_script
    )
    client = processes.run(client_script, url, "One?", "Two?", "--name", "mixed")
    out, err = finish(client)
    check_client(out, err, client.returncode, "mixed", ["One?", "Two?"])
    out, err = finish(server)
    assert server.returncode == 0, err
    assert "answered 2 questions from 1 clients" in out
