"""Who is at the other end? Peer credentials and allowed users (APUE 17.3 Unique Connections).

A Unix listener asks the kernel which process connected (``SO_PEERCRED``):
the answer is the pid, uid and gid recorded when the client connected, which
the client cannot forge. With ``allowed_uids`` the listener hands out only
connections from those users and disconnects the rest, the check APUE's
``serv_accept`` makes. Every process here runs as you, so the refusal is
shown with a listener that admits only some other uid.
Run it: ``python examples/peer_credentials.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from transports import PeerRejected, UnixListener, UnixStreamTransport

TIMEOUT = 5.0

CLIENT = """
import sys
from transports import UnixStreamTransport
with UnixStreamTransport.connect(sys.argv[1], timeout=5) as conn:
    conn.send_all(b"hello from the child")
    conn.recv(1)  # wait until the server is done with us
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "server.sock")
        with UnixListener.listen(path, timeout=TIMEOUT, allowed_uids={os.getuid()}) as listener:
            child = subprocess.Popen([sys.executable, "-c", CLIENT, str(path)])
            try:
                with listener.accept() as conn:
                    conn.timeout = TIMEOUT
                    who = conn.peer_credentials()
                    print(f"accepted pid={who.pid} uid={who.uid} gid={who.gid}")
                    print(f"the peer is the child process: {who.pid == child.pid}")
                    print(f"it says: {conn.recv(100).decode()}")
            finally:
                child.wait(timeout=TIMEOUT)

        someone_else = os.getuid() + 1000
        with UnixListener.listen(path, timeout=TIMEOUT, allowed_uids={someone_else}) as strict:
            with UnixStreamTransport.connect(path, timeout=TIMEOUT) as client:
                try:
                    strict.accept().close()
                except PeerRejected as refused:
                    print(f"refused uid {refused.credentials.uid} (only uid {someone_else} may connect)")
                print(f"the refused client saw the connection end: {client.recv(1) == b''}")


if __name__ == "__main__":
    main()
