"""The Magic 8-ball server: a receive loop that only queues, and a pool of workers that answer.

Message queues between the parts of a server (APUE 15.7 Message Queues) let
its receive loop go back to the network at once while slow work waits in
line; a pool of workers takes the work off the queue (APUE 15.11
Client-Server Properties: the server hands each request to a worker instead
of serving it in the loop). Each question arrives as one message (APUE 16.5
Data Transfer): framed with a :class:`~transports.MessageStream` on byte
streams (``tcp://``, ``unix://``), one datagram or seqpacket message
otherwise (``udp://``, ``unixgram://``, ``unixpacket://``).

The parts:

* the main thread waits in one ``select`` for new connections or datagrams
  and for a stop request (APUE 14.4 I/O Multiplexing);
* one reader thread per connection turns messages into jobs on the job
  queue, and never waits for an answer;
* ``--workers`` threads (or, with ``--processes``, processes) take jobs,
  think for ``--delay`` seconds -- the deliberately slow part -- and put the
  answer on the answer queue; they never touch a socket, so threads and
  processes run the same function;
* one replier thread takes answers off that queue and sends each back
  through the connection or to the datagram address it came from.

A stop request (SIGTERM, SIGINT, or ``--max-requests`` answers sent) is one
byte written to a socketpair that the main ``select`` watches: the idea of
APUE 17.2 Fig. 17.3, which bridges something ``select`` cannot wait for
into a socket it can. The server then stops reading, lets the workers
finish every queued question, sends the answers, and exits.

Run ``python server.py tcp://127.0.0.1:0`` and, in another terminal,
``python client.py tcp://127.0.0.1:PORT`` with the port it printed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import multiprocessing
import queue
import selectors
import signal
import sys
import threading
import time
import zlib
from types import FrameType
from typing import Protocol, TypeAlias, TypeVar

import transports
from transports import (
    DatagramTransport,
    InetAddress,
    Kind,
    Listener,
    MessageStream,
    RecvFlags,
    StreamTransport,
    Transport,
    TransportError,
    UnixAddress,
    UnixSeqpacketTransport,
    WouldBlock,
)

#: The longest question taken, in bytes (a longer one is refused).
MAX_QUESTION = 4096

ANSWERS = [
    "Yes, beyond any doubt.",
    "Signs point that way.",
    "Count on it.",
    "Probably.",
    "Looks promising.",
    "Ask again after coffee.",
    "The fog is too thick to tell.",
    "Not telling you yet.",
    "Think harder and ask again.",
    "I would not bet on it.",
    "The stars say no.",
    "Unlikely.",
]

#: A job: (job id, question). An answer: (job id, text, started, finished).
Job: TypeAlias = tuple[int, str]
Answer: TypeAlias = tuple[int, str, float, float]
T = TypeVar("T")


class Channel(Protocol[T]):
    """What a job or answer queue offers: ``queue.Queue`` and ``multiprocessing`` queues both fit."""

    def put(self, item: T, /) -> None: ...

    def get(self, block: bool = True, timeout: float | None = None) -> T: ...


def think(question: str, delay: float, cpu: bool) -> str:
    """The slow part: ponder *question* for *delay* seconds, then answer it (the same way every time).

    Pondering is waiting (like a disk or another service would make us
    wait), or with *cpu* keeping a processor busy, which threads of one
    Python process cannot do side by side and processes can.
    """
    if cpu:
        end = time.thread_time() + delay  # processor time of this thread, not the clock
        while time.thread_time() < end:
            sum(range(1000))
    else:
        time.sleep(delay)  # the workload this example is about, not a wait for a peer
    return ANSWERS[zlib.crc32(question.encode()) % len(ANSWERS)]


def work(jobs: Channel[Job | None], answers: Channel[Answer | None], delay: float, cpu: bool) -> None:
    """A worker: answer jobs until the ``None`` that means the queue is closed.

    A thread or a process runs it; it sees only the two queues.
    """
    with contextlib.suppress(ValueError):  # not the main thread of a process: keep the handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server to handle
    answers.put((-1, "ready", 0.0, 0.0))
    while (job := jobs.get()) is not None:
        job_id, question = job
        started = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        text = think(question, delay, cpu)
        answers.put((job_id, text, started, time.monotonic()))


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans that overlap at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def log(text: str) -> None:
    print(f"magic8ball: {text}", file=sys.stderr, flush=True)


class Connection:
    """One client connection: its reader thread queues questions; the replier sends the answers.

    The connection is closed once the client has stopped asking (end of
    stream, or the server stopping) and every question it asked is answered.
    """

    def __init__(self, transport: StreamTransport | UnixSeqpacketTransport, name: str) -> None:
        self.transport = transport
        self.stream = (
            MessageStream(transport, max_size=MAX_QUESTION)
            if isinstance(transport, StreamTransport)
            else None
        )
        self.name = name
        self._lock = threading.Lock()
        self._pending = 0
        self._reading = True

    def receive(self) -> bytes | None:
        """The next question, or ``None`` when the client has no more."""
        if self.stream is not None:
            return self.stream.recv_message()
        return self.transport.recv(MAX_QUESTION) or None  # seqpacket: b"" is the end

    def expect_answer(self) -> None:
        with self._lock:
            self._pending += 1

    def reply(self, data: bytes) -> None:
        try:
            if self.stream is not None:
                self.stream.send_message(data)
            else:
                self.transport.send(data)
        except TransportError as exc:
            log(f"{self.name}: answer lost: {exc}")
        finally:
            with self._lock:
                self._pending -= 1
                self._close_if_done()

    def reading_finished(self) -> None:
        with self._lock:
            self._reading = False
            self._close_if_done()

    def stop_reading(self) -> None:
        """Wake the reader thread: it sees the end of the stream (APUE 16.2 ``shutdown``)."""
        with self._lock:
            if not self.transport.closed:
                with contextlib.suppress(TransportError):
                    self.transport.shutdown("read")

    def _close_if_done(self) -> None:
        if not self._reading and not self._pending:
            self.transport.close()


class DatagramPeer:
    """The sender of a datagram: answers go back to its address."""

    def __init__(self, transport: DatagramTransport, address: InetAddress | UnixAddress) -> None:
        self.transport = transport
        self.address = address
        self.name = str(address)

    def expect_answer(self) -> None:
        pass

    def reply(self, data: bytes) -> None:
        try:
            self.transport.send_to(data, self.address)
        except TransportError as exc:
            log(f"{self.name}: answer lost: {exc}")


Client: TypeAlias = Connection | DatagramPeer


class Server:
    """The queues, the workers, the replier and the bookkeeping of one server run."""

    def __init__(self, workers: int, processes: bool, delay: float, cpu: bool, max_requests: int) -> None:
        self.delay = delay
        self.cpu = cpu
        self.max_requests = max_requests
        self.jobs: Channel[Job | None]
        self.answers: Channel[Answer | None]
        self.workers: list[threading.Thread | multiprocessing.process.BaseProcess] = []
        if processes:
            # spawn, not fork: this process already runs threads.
            context = multiprocessing.get_context("spawn")
            self.jobs, self.answers = context.Queue(), context.Queue()
            for n in range(workers):
                process = context.Process(
                    target=work, args=(self.jobs, self.answers, delay, cpu), name=f"worker-{n}", daemon=True
                )
                self.workers.append(process)
        else:
            self.jobs, self.answers = queue.Queue(), queue.Queue()
            for n in range(workers):
                thread = threading.Thread(
                    target=work, args=(self.jobs, self.answers, delay, cpu), name=f"worker-{n}", daemon=True
                )
                self.workers.append(thread)
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Client, bytes]] = {}
        self.spans: list[tuple[float, float]] = []
        self.clients: set[str] = set()
        self.first_question: float | None = None
        self.last_answer = 0.0
        self._stop_reason: str | None = None
        self.wake_reader, self.wake_writer = transports.socketpair()
        self.wake_writer.timeout = 0
        self.replier = threading.Thread(target=self._reply_loop, name="replier", daemon=True)

    def start(self) -> None:
        for worker in self.workers:
            worker.start()
        for _ in self.workers:  # every worker is up before the first question
            try:
                ready = self.answers.get(timeout=60)
            except queue.Empty:
                raise RuntimeError("a worker did not start within 60 s") from None
            assert ready is not None
            assert ready[0] == -1
        self.replier.start()

    def stop(self, reason: str) -> None:
        """Ask the main loop to stop: one byte on the socketpair it watches (APUE 17.2 Fig. 17.3)."""
        with self._lock:
            if self._stop_reason is not None:
                return
            self._stop_reason = reason
        with contextlib.suppress(WouldBlock):
            self.wake_writer.send(b"!")

    @property
    def stop_reason(self) -> str:
        return self._stop_reason or "unknown"

    def submit(self, client: Client, request: bytes) -> None:
        """Queue one question; return at once (APUE 15.7 Message Queues)."""
        question_id, _, question = request.partition(b" ")
        with self._lock:
            job_id = next(self._ids)
            self._waiting[job_id] = (client, question_id)
            self.clients.add(client.name)
            if self.first_question is None:
                self.first_question = time.monotonic()
        client.expect_answer()
        self.jobs.put((job_id, question.decode("utf-8", "replace")))

    def _reply_loop(self) -> None:
        while (answer := self.answers.get()) is not None:
            job_id, text, started, finished = answer
            with self._lock:
                client, question_id = self._waiting.pop(job_id)
            client.reply(question_id + b" " + text.encode())
            with self._lock:
                self.spans.append((started, finished))
                self.last_answer = time.monotonic()
                answered = len(self.spans)
            if self.max_requests and answered == self.max_requests:
                self.stop(f"--max-requests {answered} reached")

    def drain(self) -> None:
        """Let the workers answer every queued question, then end them and the replier."""
        for _ in self.workers:
            self.jobs.put(None)
        for worker in self.workers:
            worker.join(30)
        self.answers.put(None)
        self.replier.join(30)

    def close(self) -> None:
        self.wake_reader.close()
        self.wake_writer.close()


def read_questions(server: Server, connection: Connection) -> None:
    """A connection's receive loop: it only queues questions, it never waits for answers."""
    try:
        while (request := connection.receive()) is not None:
            server.submit(connection, request)
    except TransportError as exc:
        log(f"{connection.name}: stopped reading: {exc}")
    finally:
        connection.reading_finished()


def serve(url: str, server: Server) -> None:
    scheme = url.partition(":")[0]
    schemes = transports.registered_schemes()
    if scheme not in schemes:
        raise transports.UnknownScheme(scheme, list(schemes))
    kind = schemes[scheme].kind
    intake: Listener[Transport] | DatagramTransport
    if kind is Kind.DATAGRAM:
        bound = transports.bind(url, timeout=5)
        assert isinstance(bound, DatagramTransport)
        intake = bound
        where = bound.local_address.url(scheme)
    else:
        intake = transports.listen(url, timeout=0)  # accept only when select says so
        where = intake.address.url(scheme)
    connections: list[Connection] = []
    readers: list[threading.Thread] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(intake.close)
        server.start()
        mode = (
            "processes" if isinstance(server.workers[0], multiprocessing.process.BaseProcess) else "threads"
        )
        print(
            f"magic8ball: listening on {where} with {len(server.workers)} worker {mode}, "
            f"{server.delay:g} s {'of CPU ' if server.cpu else ''}per answer",
            flush=True,
        )
        with selectors.DefaultSelector() as selector:
            selector.register(intake.fileno(), selectors.EVENT_READ, "intake")
            selector.register(server.wake_reader.fileno(), selectors.EVENT_READ, "stop")
            stopping = False
            while not stopping:
                ready = {key.data for key, _ in selector.select()}
                stopping = "stop" in ready
                if stopping or "intake" not in ready:
                    continue
                if isinstance(intake, DatagramTransport):
                    receive_datagram(server, intake)
                    continue
                connection = accept(intake)
                if connection is not None:
                    connections.append(connection)
                    reader = threading.Thread(
                        target=read_questions, args=(server, connection), name=connection.name
                    )
                    readers.append(reader)
                    reader.start()
        # Stop taking questions, answer the queued ones, then leave.
        if not isinstance(intake, DatagramTransport):
            intake.close()
        for connection in connections:
            connection.stop_reading()
        for reader in readers:
            reader.join(30)
        server.drain()
        for connection in connections:
            connection.transport.close()
    spans = server.spans
    busy = server.last_answer - server.first_question if server.first_question is not None else 0.0
    print(
        f"magic8ball: stopped ({server.stop_reason}): answered {len(spans)} questions from "
        f"{len(server.clients)} clients in {busy:.2f} s; at most {most_at_once(spans)} answers at once",
        flush=True,
    )


_connection_numbers = itertools.count(1)


def accept(listener: Listener[Transport]) -> Connection | None:
    try:
        transport = listener.accept()
    except WouldBlock:  # the client gave up between select and accept
        return None
    if not isinstance(transport, StreamTransport | UnixSeqpacketTransport):
        transport.close()
        raise TypeError(f"the 8-ball needs a stream or seqpacket connection, got {transport!r}")
    return Connection(transport, f"connection {next(_connection_numbers)}")


def receive_datagram(server: Server, transport: DatagramTransport) -> None:
    try:
        datagram = transport.recv_from(MAX_QUESTION, RecvFlags.DONTWAIT)
    except WouldBlock:
        return
    if datagram.truncated:
        log(f"{datagram.address}: a question over {MAX_QUESTION} bytes was dropped")
        return
    address = datagram.address
    assert isinstance(address, InetAddress | UnixAddress), address
    server.submit(DatagramPeer(transport, address), datagram.data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Magic 8-ball server: slow answers, served by a pool.")
    parser.add_argument("url", help="where to listen or bind: tcp://127.0.0.1:0, unix:8ball.sock, udp://...")
    parser.add_argument("--workers", type=int, default=4, help="how many answers are worked on at once")
    parser.add_argument("--processes", action="store_true", help="workers are processes, not threads")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each answer takes")
    parser.add_argument("--cpu", action="store_true", help="answers keep a CPU busy instead of waiting")
    parser.add_argument("--max-requests", type=int, default=0, help="stop after this many answers (0: never)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    server = Server(args.workers, args.processes, args.delay, args.cpu, args.max_requests)

    def on_signal(number: int, frame: FrameType | None) -> None:
        server.stop(f"got {signal.Signals(number).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        serve(args.url, server)
    except (TransportError, ValueError) as exc:
        log(str(exc))
        return 1
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
