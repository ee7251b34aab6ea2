"""An open server: another process opens files and hands back the descriptors (APUE 17.5-17.6 An Open Server).

The client starts the server as a separate process (this same script with
``--serve``) and keeps the other end of a seqpacket socketpair. Each request
is one message: a file name. The server opens the file read-only, but only
inside the directory it was given, and answers with ``send_fds``: a short
status message carrying the new descriptor, or an error message and no
descriptor. The client reads the file through the descriptor it received,
although it never opened the file itself: in APUE the server may hold rights
the client lacks (here both run as you). Run it: ``python examples/open_server.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import transports
from transports import UnixSeqpacketTransport

TIMEOUT = 5.0


def serve(end: UnixSeqpacketTransport, allowed: str) -> None:
    """Answer open requests until the client ends the connection."""
    root = os.path.realpath(allowed)
    while request := end.recv(4096):
        name = os.path.realpath(os.path.join(root, request.decode()))
        if os.path.commonpath([root, name]) != root:
            end.send(f"error: {request.decode()} is outside the served directory".encode())
            continue
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            end.send(f"error: {exc.strerror}".encode())
            continue
        try:
            end.send_fds(b"ok", [fd])
        finally:
            os.close(fd)  # the client has its own copy now


def open_via(server: UnixSeqpacketTransport, name: str) -> int:
    """Ask the server to open *name*; return the descriptor, or raise PermissionError with its answer."""
    server.send(name.encode())
    reply = server.recv_fds(4096, 1)
    if reply.data != b"ok" or len(reply.fds) != 1:
        for fd in reply.fds:
            os.close(fd)
        raise PermissionError(reply.data.decode())
    return reply.fds[0]


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "notes.txt").write_text("hello from the open server\nsecond line\n")
        client, server_end = transports.socketpair("seqpacket")
        with client:
            with server_end:
                passed = server_end.fileno()
                argv = [sys.executable, os.path.abspath(__file__), "--serve", str(passed), directory]
                server = subprocess.Popen(argv, pass_fds=[passed])
            # Only the server process holds the other end now.
            try:
                client.timeout = TIMEOUT
                fd = open_via(client, "notes.txt")
                with open(fd, encoding="utf-8") as file:  # takes the descriptor over
                    print(f"first line of notes.txt: {file.readline().rstrip()}")
                for name in ("../../etc/passwd", "missing.txt"):
                    try:
                        os.close(open_via(client, name))
                    except PermissionError as refused:
                        print(f"refused {name}: {refused}")
            finally:
                client.close()  # no more requests: the server's recv returns b"" and it exits
                server.wait(timeout=TIMEOUT)
    print(f"server exited with {server.returncode}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        # No timeout: if the client dies, its end closes and recv returns b"".
        with UnixSeqpacketTransport.from_socket(socket.socket(fileno=int(sys.argv[2]))) as end:
            serve(end, sys.argv[3])
    else:
        main()
