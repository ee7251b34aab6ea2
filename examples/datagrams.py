"""UDP and Unix datagrams: boundaries kept, nothing cut silently (APUE 16.5 Data Transfer).

Shows that each send is one message, that a message larger than the
receive buffer comes back marked ``truncated`` with its real size, and that
a message too large to send raises ``MessageTooLarge`` with the limit.
Run it: ``python examples/datagrams.py``.
"""

from __future__ import annotations

import transports
from transports import DatagramTransport, MessageTooLarge


def tour(server: DatagramTransport, client: DatagramTransport) -> None:
    name = type(server).__name__
    client.send_to(b"one", server.local_address)
    client.send_to(b"two", server.local_address)
    first, second = server.recv_from(64), server.recv_from(64)
    print(f"{name}: {first.data!r} then {second.data!r}, from {first.address}")

    client.send_to(b"x" * 500, server.local_address)
    cut = server.recv_from(64)
    print(f"{name}: 500 bytes into 64: truncated={cut.truncated}, real size {cut.size}")

    try:
        client.send_to(bytes(client.max_message_size + 1), server.local_address)
    except MessageTooLarge as exc:
        print(f"{name}: {exc.size} bytes refused, limit {exc.limit}")


def main() -> None:
    with (
        transports.bind("udp://127.0.0.1:0", timeout=5) as a,
        transports.bind("udp://127.0.0.1:0", timeout=5) as b,
    ):
        assert isinstance(a, DatagramTransport)
        assert isinstance(b, DatagramTransport)
        tour(a, b)
    # unixgram: with no path, Linux picks an abstract name (autobind).
    with transports.bind("unixgram:", timeout=5) as a, transports.bind("unixgram:", timeout=5) as b:
        assert isinstance(a, DatagramTransport)
        assert isinstance(b, DatagramTransport)
        tour(a, b)


if __name__ == "__main__":
    main()
