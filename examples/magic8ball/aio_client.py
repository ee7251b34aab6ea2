"""The Magic 8-ball client on asyncio: ask questions over any transport URL, all at once.

The asyncio twin of ``client.py``, speaking the same protocol to either
server. Every question goes out as one message (APUE 16.5 Data Transfer):
framed with :class:`transports.aio.MessageStream` on a byte stream
(``tcp://``, ``unix://``), one datagram or seqpacket message otherwise
(``udp://``, ``unixgram://``, ``unixpacket://``). It sends all its
questions, numbered, before reading any answer, so the server's queue (APUE
15.7 Message Queues) can hand them to several workers at once (APUE 15.11
Client-Server Properties); on a connection it then half-closes its sending
side (APUE 16.2), and reads the answers in whatever order they come.

Run ``python aio_client.py tcp://127.0.0.1:PORT "Will it rain?" "Should I?"``
against a running ``aio_server.py`` (or ``server.py``); it prints one line
per answer and exits with status 0 when every question was answered.
"""

from __future__ import annotations

import asyncio
import sys
import time

from client import MAX_ANSWER, parse_arguments, report

from transports import TransportError, aio


class Conversation:
    """One async transport seen as a channel of whole messages, whatever its kind."""

    def __init__(self, transport: aio.Transport) -> None:
        self.transport = transport
        self.stream = (
            aio.MessageStream(transport, max_size=MAX_ANSWER)
            if isinstance(transport, aio.StreamTransport)
            else None
        )

    async def send(self, message: bytes) -> None:
        if self.stream is not None:
            await self.stream.send_message(message)
        else:
            await self.transport.send(message)  # a datagram or seqpacket message is one send

    def done_sending(self) -> None:
        """Half-close a connection: the server sees the end of our questions (APUE 16.2)."""
        if isinstance(self.transport, aio.StreamTransport | aio.UnixSeqpacketTransport):
            self.transport.shutdown("write")

    async def receive(self) -> bytes | None:
        if self.stream is not None:
            return await self.stream.recv_message()
        data = await self.transport.recv(MAX_ANSWER)
        # b"" ends a connection; on a datagram transport it is an (odd) empty answer.
        return data if data or isinstance(self.transport, aio.DatagramTransport) else None


async def ask(url: str, questions: list[str], timeout: float = 10.0) -> dict[int, str]:
    """Ask every question over *url*; return the answers by question number."""
    answers: dict[int, str] = {}
    async with await aio.connect(url, timeout=timeout) as transport:
        conversation = Conversation(transport)
        for number, question in enumerate(questions):
            await conversation.send(f"{number} {question}".encode())
        conversation.done_sending()
        while len(answers) < len(questions):
            reply = await conversation.receive()
            if reply is None:
                break  # the server closed the connection early
            number_text, _, text = reply.partition(b" ")
            answers[int(number_text)] = text.decode("utf-8", "replace")
    return answers


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments("Ask the Magic 8-ball server some questions, on asyncio.", argv)
    questions: list[str] = args.questions
    started = time.monotonic()
    try:
        answers = asyncio.run(ask(args.url, questions, args.timeout))
    except TransportError as exc:
        print(f"{args.name}: {exc}", file=sys.stderr)
        return 1
    return report(args.name, questions, answers, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
