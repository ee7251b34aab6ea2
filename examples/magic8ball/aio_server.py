"""The Magic 8-ball server on asyncio: receive tasks that only queue, and worker tasks that answer.

The asyncio twin of ``server.py``, speaking the same protocol, so either
client talks to either server. Each connection gets a receive task that
turns every question into a job on an :class:`asyncio.Queue` (the message
queue of APUE 15.7 Message Queues) and goes straight back to the network;
``--workers`` worker tasks take jobs off the queue, think for ``--delay``
seconds, and send each answer back themselves (APUE 15.11 Client-Server
Properties: the server hands each request to a worker). Each question and
answer is one message (APUE 16.5 Data Transfer): framed with
:class:`transports.aio.MessageStream` on a byte stream (``tcp://``,
``unix://``), one datagram or seqpacket message otherwise (``udp://``,
``unixgram://``, ``unixpacket://``).

What the threads of ``server.py`` need a socketpair for -- waking a
``select`` loop from a signal handler or from the replier (APUE 17.2
Fig. 17.3) -- is one :class:`asyncio.Event` here: the event loop is the
``select`` (APUE 14.4 I/O Multiplexing), and every part of the server is a
task on it. Several workers may answer on one connection at once; the
stream's ``send_message`` takes turns, so answers never interleave.

Run ``python aio_server.py tcp://127.0.0.1:0`` and, in another terminal,
``python aio_client.py tcp://127.0.0.1:PORT`` with the port it printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import sys
import time
import zlib
from typing import TypeAlias

from server import ANSWERS, MAX_QUESTION, log, most_at_once

import transports
from transports import InetAddress, Kind, TransportError, UnixAddress, aio


class Connection:
    """One client connection: its receive task queues questions, the workers send the answers.

    It is closed once the client has stopped asking (end of stream, or the
    server stopping) and every question it asked is answered.
    """

    def __init__(self, transport: aio.StreamTransport | aio.UnixSeqpacketTransport, name: str) -> None:
        self.transport = transport
        self.stream = (
            aio.MessageStream(transport, max_size=MAX_QUESTION)
            if isinstance(transport, aio.StreamTransport)
            else None
        )
        self.name = name
        self.pending = 0
        self.reading = True

    async def receive(self) -> bytes | None:
        """The next question, or ``None`` when the client has no more."""
        if self.stream is not None:
            return await self.stream.recv_message()
        return await self.transport.recv(MAX_QUESTION) or None  # seqpacket: b"" is the end

    def expect_answer(self) -> None:
        self.pending += 1

    async def reply(self, data: bytes) -> None:
        try:
            if self.stream is not None:
                await self.stream.send_message(data)  # it takes turns: answers never interleave
            else:
                await self.transport.send(data)
        except TransportError as exc:
            log(f"{self.name}: answer lost: {exc}")
        finally:
            self.pending -= 1
            self._close_if_done()

    def reading_finished(self) -> None:
        self.reading = False
        self._close_if_done()

    def _close_if_done(self) -> None:
        if not self.reading and not self.pending:
            self.transport.close()


class DatagramPeer:
    """The sender of a datagram: answers go back to its address."""

    def __init__(self, transport: aio.DatagramTransport, address: InetAddress | UnixAddress) -> None:
        self.transport = transport
        self.address = address
        self.name = str(address)

    def expect_answer(self) -> None:
        pass

    async def reply(self, data: bytes) -> None:
        try:
            await self.transport.send_to(data, self.address)
        except TransportError as exc:
            log(f"{self.name}: answer lost: {exc}")


Client: TypeAlias = Connection | DatagramPeer
#: A job: who asked, the question's number, and the question.
Job: TypeAlias = tuple[Client, bytes, str]


class Server:
    """The job queue, the workers and the bookkeeping of one server run."""

    def __init__(self, workers: int, delay: float, max_requests: int) -> None:
        self.workers = workers
        self.delay = delay
        self.max_requests = max_requests
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.stopping = asyncio.Event()
        self.stop_reason = "unknown"
        self.spans: list[tuple[float, float]] = []
        self.clients: set[str] = set()
        self.first_question: float | None = None
        self.last_answer = 0.0

    def stop(self, reason: str) -> None:
        """Ask the main task to stop: it waits on this event (no socketpair needed in one loop)."""
        if not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()

    def submit(self, client: Client, request: bytes) -> None:
        """Queue one question; return at once (APUE 15.7 Message Queues)."""
        number, _, question = request.partition(b" ")
        self.clients.add(client.name)
        if self.first_question is None:
            self.first_question = time.monotonic()
        client.expect_answer()
        self.jobs.put_nowait((client, number, question.decode("utf-8", "replace")))

    async def work(self) -> None:
        """A worker: answer jobs until cancelled, each after ``--delay`` seconds of thought."""
        while True:
            client, number, question = await self.jobs.get()
            try:
                started = time.monotonic()
                await asyncio.sleep(self.delay)  # the slow part: waiting, as for a disk or a service
                text = ANSWERS[zlib.crc32(question.encode()) % len(ANSWERS)]
                finished = time.monotonic()
                await client.reply(number + b" " + text.encode())
                self.spans.append((started, finished))
                self.last_answer = time.monotonic()
                if self.max_requests and len(self.spans) == self.max_requests:
                    self.stop(f"--max-requests {self.max_requests} reached")
            finally:
                self.jobs.task_done()


_connection_numbers = itertools.count(1)


async def read_questions(server: Server, transport: aio.Transport) -> None:
    """A connection's receive task: it only queues questions, it never waits for answers."""
    if not isinstance(transport, aio.StreamTransport | aio.UnixSeqpacketTransport):
        transport.close()
        raise TypeError(f"the 8-ball needs a stream or seqpacket connection, got {transport!r}")
    connection = Connection(transport, f"connection {next(_connection_numbers)}")
    try:
        while (request := await connection.receive()) is not None:
            server.submit(connection, request)
    except TransportError as exc:
        log(f"{connection.name}: stopped reading: {exc}")
    finally:
        connection.reading_finished()


def close_all(connections: list[aio.Transport]) -> None:
    for connection in connections:
        connection.close()  # closing again does nothing


async def read_datagrams(server: Server, transport: aio.DatagramTransport) -> None:
    while True:
        datagram = await transport.recv_from(MAX_QUESTION)
        if datagram.truncated:
            log(f"{datagram.address}: a question over {MAX_QUESTION} bytes was dropped")
            continue
        assert isinstance(datagram.address, InetAddress | UnixAddress), datagram.address
        server.submit(DatagramPeer(transport, datagram.address), datagram.data)


async def serve(url: str, server: Server) -> None:
    scheme = url.partition(":")[0]
    schemes = transports.registered_schemes()
    if scheme not in schemes:
        raise transports.UnknownScheme(scheme, list(schemes))
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, server.stop, f"got {signal.Signals(number).name}")
    readers: set[asyncio.Task[None]] = set()
    async with contextlib.AsyncExitStack() as cleanup:
        if schemes[scheme].kind is Kind.DATAGRAM:
            bound = await cleanup.enter_async_context(await aio.bind(url, timeout=5))
            assert isinstance(bound, aio.DatagramTransport)
            where = bound.local_address.url(scheme)
            intake = asyncio.create_task(read_datagrams(server, bound))
        else:
            listener = await cleanup.enter_async_context(await aio.listen(url))
            where = listener.address.url(scheme)
            connections: list[aio.Transport] = []
            cleanup.callback(close_all, connections)

            async def accept_all() -> None:
                while True:
                    connection = await listener.accept()
                    connections.append(connection)
                    reader = asyncio.create_task(read_questions(server, connection))
                    readers.add(reader)
                    reader.add_done_callback(readers.discard)

            intake = asyncio.create_task(accept_all())
        workers = [asyncio.create_task(server.work()) for _ in range(server.workers)]
        print(
            f"magic8ball: listening on {where} with {server.workers} worker tasks, "
            f"{server.delay:g} s per answer",
            flush=True,
        )
        await server.stopping.wait()
        # Stop taking questions, answer the queued ones, then leave.
        for task in (intake, *readers):
            task.cancel()
        await asyncio.gather(intake, *readers, return_exceptions=True)
        await server.jobs.join()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    busy = server.last_answer - server.first_question if server.first_question is not None else 0.0
    print(
        f"magic8ball: stopped ({server.stop_reason}): answered {len(server.spans)} questions from "
        f"{len(server.clients)} clients in {busy:.2f} s; at most {most_at_once(server.spans)} answers at once",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The Magic 8-ball server on asyncio: slow answers, worker tasks."
    )
    parser.add_argument("url", help="where to listen or bind: tcp://127.0.0.1:0, unix:8ball.sock, udp://...")
    parser.add_argument("--workers", type=int, default=4, help="how many answers are worked on at once")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each answer takes")
    parser.add_argument("--max-requests", type=int, default=0, help="stop after this many answers (0: never)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    async def run() -> None:
        await serve(args.url, Server(args.workers, args.delay, args.max_requests))

    try:
        asyncio.run(run())
    except (TransportError, ValueError) as exc:
        log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
