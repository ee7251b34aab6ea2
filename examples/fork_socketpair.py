"""Parent and child after ``os.fork``, talking over a socketpair (APUE 17.2 UNIX Domain Sockets).

``socketpair`` makes two connected sockets; after ``fork`` each process
closes the end it does not use, which leaves one private, full-duplex
channel between them. A seqpacket pair keeps each message whole. The parent
ends the conversation with a half-close and reaps the child with
``os.waitpid``. POSIX only: ``os.fork`` does not exist on Windows.
Run it: ``python examples/fork_socketpair.py``.
"""

from __future__ import annotations

import os
import sys
import traceback

import transports
from transports import UnixSeqpacketTransport

TIMEOUT = 5.0


def child(end: UnixSeqpacketTransport) -> None:
    """Answer each message until the parent shuts its side down."""
    end.timeout = TIMEOUT
    while message := end.recv(1024):
        end.send(b"child %d got %r" % (os.getpid(), message))


def main() -> int:
    if not hasattr(os, "fork"):
        print(f"this example needs os.fork, which {sys.platform} does not have (POSIX only)")
        return 1
    parent_end, child_end = transports.socketpair("seqpacket")
    sys.stdout.flush()  # or the child would print a copy of anything still buffered
    pid = os.fork()
    if pid == 0:
        # The child: keep only its own end. os._exit skips the parent's cleanup
        # handlers, which belong to the parent alone.
        code = 0
        try:
            parent_end.close()
            with child_end:
                child(child_end)
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    child_end.close()
    with parent_end:
        parent_end.timeout = TIMEOUT
        for question in (b"ping", b"what is a socketpair?"):
            parent_end.send(question)
            print(parent_end.recv(1024).decode())
        parent_end.shutdown("write")  # the child's recv returns b"": it exits
        assert parent_end.recv(1024) == b"", "the child should have closed its end"
    _, status = os.waitpid(pid, 0)
    print(f"child exited with {os.waitstatus_to_exitcode(status)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
