"""Parent and child talking over a socketpair (APUE 17.2 UNIX Domain Sockets).

The parent makes a connected pair of Unix stream transports, hands one end
to a child process by file descriptor (``pass_fds``), and the two exchange
a question and an answer. Run it: ``python examples/socketpair_child.py``.
"""

from __future__ import annotations

import subprocess
import sys

import transports

CHILD = """
import socket, sys
from transports import UnixStreamTransport
fd = int(sys.argv[1])
with UnixStreamTransport.from_socket(socket.socket(fileno=fd)) as end:
    end.timeout = 5
    question = end.recv_exactly(int.from_bytes(end.recv_exactly(2), "big"))
    end.send_all(b"the child read: " + question)
"""


def main() -> None:
    parent, child = transports.socketpair("stream")
    with parent:
        with child:
            proc = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(child.fileno())], pass_fds=[child.fileno()]
            )
        # The child holds its own copy of the descriptor now; ours is closed.
        try:
            parent.timeout = 5
            question = b"what is a socketpair?"
            parent.send_all(len(question).to_bytes(2, "big") + question)
            parent.shutdown("write")
            answer = b""
            while chunk := parent.recv(4096):
                answer += chunk
            print(answer.decode())
        finally:
            proc.wait(timeout=10)
    print(f"child exited with {proc.returncode}")


if __name__ == "__main__":
    main()
