"""The Magic 8-ball client: ask questions over any transport URL, all at once, and wait for the answers.

Every question goes out as one message (APUE 16.5 Data Transfer): framed
with a :class:`~transports.MessageStream` on a byte stream (``tcp://``,
``unix://``), one datagram or seqpacket message otherwise (``udp://``,
``unixgram://``, ``unixpacket://``). The client sends all its questions
before reading any answer, numbered, so the server's message queue (APUE
15.7 Message Queues) can hand them to several workers at once (APUE 15.11
Client-Server Properties) and the answers may come back in any order. On a
connection it then half-closes its sending side: the server reads the end
of the stream and knows no more questions will come.

Run ``python client.py tcp://127.0.0.1:PORT "Will it rain?" "Should I?"``
against a running ``server.py``; it prints one line per answer and exits
with status 0 when every question was answered.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import transports
from transports import (
    DatagramTransport,
    MessageStream,
    StreamTransport,
    Transport,
    TransportError,
    UnixSeqpacketTransport,
)

#: The longest answer accepted, in bytes.
MAX_ANSWER = 4096

QUESTIONS = [
    "Will the build pass?",
    "Is it a good day to refactor?",
    "Should I trust this benchmark?",
    "Will the meeting end early?",
    "Is there cake in the kitchen?",
]


class Conversation:
    """One transport seen as a channel of whole messages, whatever its kind."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.stream = (
            MessageStream(transport, max_size=MAX_ANSWER) if isinstance(transport, StreamTransport) else None
        )

    def send(self, message: bytes) -> None:
        if self.stream is not None:
            self.stream.send_message(message)
        else:
            self.transport.send(message)  # a datagram or seqpacket message is one send

    def done_sending(self) -> None:
        """Half-close a connection: the server sees the end of our questions (APUE 16.2)."""
        if isinstance(self.transport, StreamTransport | UnixSeqpacketTransport):
            self.transport.shutdown("write")

    def receive(self) -> bytes | None:
        if self.stream is not None:
            return self.stream.recv_message()
        data = self.transport.recv(MAX_ANSWER)
        # b"" ends a connection; on a datagram transport it is an (odd) empty answer.
        return data if data or isinstance(self.transport, DatagramTransport) else None


def ask(url: str, questions: list[str], timeout: float = 10.0) -> dict[int, str]:
    """Ask every question over *url*; return the answers by question number."""
    answers: dict[int, str] = {}
    with transports.connect(url, timeout=timeout) as transport:
        conversation = Conversation(transport)
        for number, question in enumerate(questions):
            conversation.send(f"{number} {question}".encode())
        conversation.done_sending()
        while len(answers) < len(questions):
            reply = conversation.receive()
            if reply is None:
                break  # the server closed the connection early
            number_text, _, text = reply.partition(b" ")
            answers[int(number_text)] = text.decode("utf-8", "replace")
    return answers


def parse_arguments(description: str, argv: list[str] | None) -> argparse.Namespace:
    """The command line of either client: url, questions (stock ones if none), --name, --timeout."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("url", help="the server's URL, as it printed it")
    parser.add_argument("questions", nargs="*", help="what to ask (a few stock questions if none)")
    parser.add_argument("--name", default=f"client-{os.getpid()}", help="how this client signs its lines")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
    args = parser.parse_intermixed_args(argv)
    args.questions = args.questions or QUESTIONS
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments("Ask the Magic 8-ball server some questions.", argv)
    questions: list[str] = args.questions
    started = time.monotonic()
    try:
        answers = ask(args.url, questions, args.timeout)
    except TransportError as exc:
        print(f"{args.name}: {exc}", file=sys.stderr)
        return 1
    return report(args.name, questions, answers, time.monotonic() - started)


def report(name: str, questions: list[str], answers: dict[int, str], elapsed: float) -> int:
    """Print a line per question and a summary; return the exit status (0: all answered)."""
    for number, question in enumerate(questions):
        print(f"{name}: {question!r} -> {answers.get(number, '(no answer)')!r}")
    print(f"{name}: {len(answers)} of {len(questions)} questions answered in {elapsed:.2f} s")
    return 0 if len(answers) == len(questions) else 1


if __name__ == "__main__":
    sys.exit(main())
