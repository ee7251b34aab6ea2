"""A TCP echo server and client in one script (APUE 16.4 Connection Establishment, 16.5 Data Transfer).

The server accepts connections in a thread and echoes what it reads; the
client connects by URL, sends a few lines with ``send_all`` and reads each
echo back with ``recv_exactly``. Run it: ``python examples/echo_tcp.py``.
"""

from __future__ import annotations

import threading

import transports
from transports import StreamTransport, TCPListener


def serve(listener: TCPListener) -> None:
    """Echo every connection until the listener is closed."""
    for conn in listener:  # stops quietly when the listener closes
        with conn:
            conn.timeout = 5
            while data := conn.recv(4096):
                conn.send_all(data)


def main() -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        server = threading.Thread(target=serve, args=(listener,))
        server.start()
        try:
            url = listener.address.url("tcp")
            print(f"echo server on {url}")
            with transports.connect(url, timeout=5) as conn:
                assert isinstance(conn, StreamTransport)  # tcp:// always gives a stream
                for line in (b"hello", b"typed", b"transports"):
                    conn.send_all(line)
                    print(f"sent {line!r}, got back {conn.recv_exactly(len(line))!r}")
        finally:
            listener.close()  # wakes the server thread blocked in accept()
            server.join(5)


if __name__ == "__main__":
    main()
