"""``transports demo``: a guided tour of every transport kind on loopback.

Each tour starts a server end, talks to it, and prints what every step
shows together with the APUE section it illustrates. Servers run in
threads that the tour joins before it returns; every blocking call has a
timeout, so the demo always ends by itself.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

import transports
from transports import (
    Linger,
    MessageTooLarge,
    RecvFlags,
    SendFlags,
    TCPListener,
    TCPTransport,
    UDPTransport,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
)
from transports.options import SO_LINGER, SO_RCVBUF, TCP_NODELAY
from transports.unix import unix_stream_has_oob

__all__ = ["DEMOS", "run_demo"]

#: Seconds any single step may wait; the demo never hangs longer.
STEP_TIMEOUT = 5.0


class _Tour:
    """Prints numbered steps, each tagged with its APUE section."""

    def __init__(self, out: TextIO, title: str) -> None:
        self._out = out
        self._step = 0
        print(f"\n== {title} ==", file=out)

    def say(self, apue: str, text: str) -> None:
        self._step += 1
        print(f"  {self._step:2}. [APUE {apue}] {text}", file=self._out)


@contextmanager
def _background(target: Callable[[], None], name: str) -> Iterator[None]:
    """Run *target* in a thread for the duration of the block; re-raise its error."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported in the main thread below
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(STEP_TIMEOUT)
    if thread.is_alive():
        raise RuntimeError(f"demo server thread {name!r} did not finish in {STEP_TIMEOUT} s")
    if errors:
        raise errors[0]


def _echo_stream(listener: TCPListener | UnixListener, chunks: int) -> None:
    """Accept one connection and echo *chunks* reads back, then half-close."""
    with listener.accept() as conn:
        conn.timeout = STEP_TIMEOUT
        for _ in range(chunks):
            data = conn.recv(65536)
            if not data:
                break
            conn.send_all(data)
        conn.shutdown("write")


def tour_tcp(out: TextIO) -> None:
    tour = _Tour(out, "TCP: a reliable byte stream between Internet endpoints")
    with TCPListener.listen("127.0.0.1", 0, timeout=STEP_TIMEOUT) as listener:
        url = listener.address.url("tcp")
        tour.say("16.4 Connection Establishment", f"listening on {url} (port 0 picked a free port)")
        with (
            _background(lambda: _echo_stream(listener, 1), "tcp-echo"),
            TCPTransport.connect(
                "127.0.0.1", listener.address.port, timeout=STEP_TIMEOUT, options=[TCP_NODELAY(True)]
            ) as conn,
        ):
            tour.say(
                "16.3.4 Associating Addresses with Sockets",
                f"connected: local {conn.local_address}, remote {conn.remote_address}",
            )
            tour.say(
                "16.6 Socket Options",
                f"TCP_NODELAY={conn.get_option(TCP_NODELAY)}, SO_RCVBUF={conn.get_option(SO_RCVBUF)} bytes",
            )
            tour.say(
                "16.2 Socket Descriptors",
                f"the transport is file descriptor {conn.fileno()}; os.write works on it too",
            )
            os.write(conn.fileno(), b"hello over TCP")
            echoed = conn.recv_exactly(len(b"hello over TCP"))
            tour.say("14.7 readn and writen", f"recv_exactly read the echo back: {echoed!r}")
            tail = conn.recv(100)
            tour.say(
                "16.2 Socket Descriptors",
                f"the server called shutdown('write'): recv now returns {tail!r} (end of stream)",
            )
    with TCPListener.listen("127.0.0.1", 0, timeout=STEP_TIMEOUT) as listener:
        with TCPTransport.connect("127.0.0.1", listener.address.port, timeout=STEP_TIMEOUT) as conn:
            with listener.accept() as peer:
                peer.timeout = STEP_TIMEOUT
                conn.send(b"normal")
                conn.send(b"!", SendFlags.OOB)
                urgent = peer.recv(1, RecvFlags.OOB)
                tour.say(
                    "16.7 Out-of-Band Data",
                    f"an urgent byte {urgent!r} overtook the normal data waiting in the stream",
                )
                peer.set_option(SO_LINGER, Linger(0))
                tour.say("16.6 Socket Options", "SO_LINGER=Linger(0) on the server: close() resets")
            try:
                conn.recv(100)
                conn.recv(100)
            except transports.ConnectionReset as exc:
                tour.say("16.5 Data Transfer", f"the client sees the reset as an error: {exc}")


def tour_udp(out: TextIO) -> None:
    tour = _Tour(out, "UDP: datagrams with boundaries and no connection")
    with (
        UDPTransport.bind("127.0.0.1", 0, timeout=STEP_TIMEOUT) as server,
        UDPTransport.bind("127.0.0.1", 0, timeout=STEP_TIMEOUT) as client,
    ):
        tour.say("16.3.4 Associating Addresses with Sockets", f"bound {server.local_address.url('udp')}")
        client.send_to(b"first", server.local_address)
        client.send_to(b"second", server.local_address)
        one, two = server.recv_from(100), server.recv_from(100)
        tour.say(
            "16.5 Data Transfer",
            f"two sends arrived as two messages: {one.data!r} and {two.data!r} from {one.address}",
        )
        client.send_to(b"x" * 1000, server.local_address)
        cut = server.recv_from(100)
        tour.say(
            "16.5 Data Transfer",
            f"a {cut.size}-byte datagram into a 100-byte buffer: truncated={cut.truncated}, never silent",
        )
        limit = client.max_message_size
        try:
            client.send_to(bytes(limit + 1), server.local_address)
        except MessageTooLarge as exc:
            tour.say(
                "16.5 Data Transfer", f"{limit + 1} bytes is one too many: MessageTooLarge(limit={exc.limit})"
            )
        client.send_to(bytes(limit), server.local_address)
        full = server.recv_from(limit)
        tour.say("16.5 Data Transfer", f"exactly {len(full.data)} bytes fit in one datagram")


def tour_unix_stream(out: TextIO, directory: str) -> None:
    tour = _Tour(out, "Unix stream: a byte stream between processes on this host")
    path = os.path.join(directory, "stream.sock")
    with UnixListener.listen(path, timeout=STEP_TIMEOUT) as listener:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        tour.say(
            "17.3 Unique Connections",
            f"listening on {listener.address.url('unix')}; the socket file has mode {mode:#o}",
        )
        with _background(lambda: _echo_stream(listener, 1), "unix-echo"):
            with UnixStreamTransport.connect(path, timeout=STEP_TIMEOUT) as conn:
                conn.send_all(b"hello over a Unix socket")
                tour.say(
                    "17.2 UNIX Domain Sockets",
                    f"echo: {conn.recv_exactly(24)!r}; the client end needs no name: "
                    f"local_address is {conn.local_address}",
                )
                assert conn.recv(10) == b""
    tour.say(
        "17.3 Unique Connections", f"closing the listener removed its file: exists={os.path.exists(path)}"
    )
    a, b = transports.socketpair("stream")
    with a, b:
        b.timeout = STEP_TIMEOUT
        a.send_all(b"pair")
        tour.say(
            "17.2 UNIX Domain Sockets", f"socketpair(): two connected ends, {b.recv_exactly(4)!r} crossed"
        )
        if unix_stream_has_oob():
            a.send(b"!", SendFlags.OOB)
            tour.say("16.7 Out-of-Band Data", "this kernel carries MSG_OOB on Unix streams too (probed)")
        else:
            tour.say(
                "16.7 Out-of-Band Data", "this kernel has no MSG_OOB on Unix streams: the flag is refused"
            )


def tour_unix_datagram(out: TextIO, directory: str) -> None:
    tour = _Tour(out, "Unix datagram: reliable, ordered messages on this host")
    path = os.path.join(directory, "dgram.sock")
    with UnixDatagramTransport.bind(path, timeout=STEP_TIMEOUT) as server:
        tour.say("17.2.1 Naming UNIX Domain Sockets", f"bound {server.local_address.url('unixgram')}")
        with UnixDatagramTransport.connect(path, timeout=STEP_TIMEOUT) as client:
            tour.say(
                "17.2.1 Naming UNIX Domain Sockets",
                f"the client was autobound to {client.local_address} so the server can answer",
            )
            client.send(b"question")
            asked = server.recv_from(100)
            server.send_to(b"answer", asked.address)
            tour.say("16.5 Data Transfer", f"server got {asked.data!r}, client got {client.recv(100)!r}")
            tour.say(
                "16.5 Data Transfer",
                f"the largest message here is SO_SNDBUF less 32 bytes: {client.max_message_size}",
            )


def tour_unix_seqpacket(out: TextIO, directory: str) -> None:
    tour = _Tour(out, "Unix seqpacket: messages with boundaries over a connection")
    path = os.path.join(directory, "packet.sock")
    with UnixSeqpacketListener.listen(path, timeout=STEP_TIMEOUT) as listener:
        tour.say("16.4 Connection Establishment", f"listening on {listener.address.url('unixpacket')}")
        with UnixSeqpacketTransport.connect(path, timeout=STEP_TIMEOUT) as conn, listener.accept() as peer:
            peer.timeout = STEP_TIMEOUT
            for message in (b"one", b"two", b"three"):
                conn.send(message)
            got = [peer.recv(100) for _ in range(3)]
            tour.say("16.5 Data Transfer", f"three sends, three receives: {got}")
            conn.shutdown("write")
            tour.say("16.2 Socket Descriptors", f"after shutdown('write') the peer reads {peer.recv(100)!r}")


DEMOS: dict[str, str] = {
    "tcp": "TCP byte stream",
    "udp": "UDP datagrams",
    "unix": "Unix stream",
    "unixgram": "Unix datagram",
    "unixpacket": "Unix seqpacket",
}


def run_demo(kinds: Sequence[str] | None, out: TextIO) -> int:
    """Run the tours named in *kinds* (all when None); return the exit status."""
    chosen = list(kinds) if kinds else list(DEMOS)
    print(
        f"typed-transports {transports.__version__}: a tour of {len(chosen)} transport kinds on loopback",
        file=out,
    )
    directory = tempfile.mkdtemp(prefix="tt-demo-", dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        for kind in chosen:
            if kind == "tcp":
                tour_tcp(out)
            elif kind == "udp":
                tour_udp(out)
            elif kind == "unix":
                tour_unix_stream(out, directory)
            elif kind == "unixgram":
                tour_unix_datagram(out, directory)
            elif kind == "unixpacket":
                tour_unix_seqpacket(out, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\nall {len(chosen)} tours finished; every socket was closed.", file=out)
    return 0
