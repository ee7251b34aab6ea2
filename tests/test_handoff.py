"""Zero-downtime hand-off of listening sockets between processes (:apue:`17.4`), sync face.

The old server is this test process (a listener served in a thread, a
HandoffServer in another); successors are child processes, or ``take`` in a
thread where only the protocol is under test. Everything synchronises on the
handshake and on sockets: no sleeps, every wait bounded.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import assert_no_fd_leak
from transports import (
    TCPListener,
    TCPTransport,
    UDPTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixStreamTransport,
    handoff,
)
from transports.errors import TransportError
from transports.handoff import Handed, HandoffError, HandoffServer, Taken, take

TIMEOUT = 10.0
SRC = Path(__file__).resolve().parents[1] / "src"

#: A successor: takes "web", says so on stdout, answers b"new" to each connection until stdin closes.
SUCCESSOR = """
import sys, threading
from transports import TCPListener, handoff
taken = handoff.take(sys.argv[1], timeout=10)
listener = taken.get("web", TCPListener)
print("took", listener.address.port, flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), listener.close()), daemon=True).start()
listener.serve(lambda conn: conn.send_all(b"new"))
print("stopped", flush=True)
"""

#: A successor that crashes after the offer arrived, before READY.
CRASHER = """
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.settimeout(10)
sock.connect(sys.argv[1])
sock.recvmsg(70000, socket.CMSG_SPACE(64))
print("got the offer", flush=True)
import os; os._exit(3)
"""


def child(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def line_of(proc: subprocess.Popen[str]) -> str:
    """The child's next line of output (the child's own timeouts bound this read)."""
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


class Hammer:
    """A client thread connecting in a loop: counts answers by their text, refusals and other failures."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: dict[bytes, int] = {}
        self.refused = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="hammer")

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with TCPTransport.connect("127.0.0.1", self.port, timeout=TIMEOUT) as conn:
                    answer = conn.recv_exactly(3)
            except ConnectionRefusedError:
                self.refused += 1
                continue
            except OSError as exc:
                self.failed.append(repr(exc))
                continue
            with self._lock:
                self.answers[answer] = self.answers.get(answer, 0) + 1
                self._lock.notify_all()

    def wait_for(self, answer: bytes, count: int) -> None:
        with self._lock:
            assert self._lock.wait_for(lambda: self.answers.get(answer, 0) >= count, TIMEOUT), self.answers

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()


class OldServer:
    """This process as the old server: a TCP listener served in a thread, answering b"old"."""

    def __init__(self) -> None:
        self.listener = TCPListener.listen("127.0.0.1", 0, timeout=0.2)
        self.port = self.listener.address.port
        self.served: list[Any] = []
        self._thread = threading.Thread(target=self._serve, name="old serve")

    def _serve(self) -> None:
        self.served.append(self.listener.serve(lambda conn: conn.send_all(b"old")))

    def __enter__(self) -> OldServer:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the old serve() did not end after the release"

    def __exit__(self, *exc_info: object) -> None:
        self.listener.close()
        self.join()


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run *call* in a thread; its result or exception lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def joined(thread: threading.Thread, out: list[Any]) -> Any:
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    if isinstance(out[0], BaseException):
        raise out[0]
    return out[0]


def test_hand_off_to_a_child_process_while_a_client_hammers(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")
    with OldServer() as old, Hammer(old.port) as hammer:
        hammer.wait_for(b"old", 20)
        with HandoffServer.listen(control, {"web": old.listener}) as offer:
            assert os.stat(control).st_mode & 0o777 == 0o600
            successor = child(SUCCESSOR, control)
            handed = offer.hand_off(timeout=TIMEOUT)
        assert not os.path.exists(control)
        assert line_of(successor) == f"took {old.port}"
        old.join()  # released: the old serve() drained and returned by itself
        hammer.wait_for(b"new", 20)
    successor.communicate("", timeout=TIMEOUT)
    assert successor.returncode == 0
    assert handed.successor.pid == successor.pid
    assert handed.names == ("web",)
    assert handed.failed == ()
    assert hammer.refused == 0
    assert hammer.failed == []  # every connection was answered, by one process or the other
    assert old.served[0].cut == ()


def test_a_successor_crashing_before_ready_leaves_the_old_serving(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")
    with OldServer() as old, HandoffServer.listen(control, {"web": old.listener}) as offer:
        thread, out = in_thread(lambda: offer.hand_off(timeout=TIMEOUT))
        crasher = child(CRASHER, control)
        assert line_of(crasher) == "got the offer"
        crasher.communicate("", timeout=TIMEOUT)
        assert crasher.returncode == 3
        with Hammer(old.port) as hammer:
            hammer.wait_for(b"old", 5)  # still serving after the crash, from its own listener
        assert hammer.refused == 0
        with take(control, timeout=TIMEOUT) as taken:
            handed: Handed = joined(thread, out)
            assert str(crasher.pid) in handed.failed[0]
            assert "closed the connection instead of sending READY" in handed.failed[0]
            assert taken.get("web", TCPListener).address.port == old.port


def test_two_successors_at_once_one_wins(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")
    listener = TCPListener.listen("127.0.0.1", 0, timeout=1.0)
    with listener, HandoffServer.listen(control, {"web": listener}) as offer:
        first = in_thread(lambda: take(control, timeout=TIMEOUT))
        second = in_thread(lambda: take(control, timeout=TIMEOUT))
        handed = offer.hand_off(timeout=TIMEOUT)
        for thread, _ in (first, second):
            thread.join(TIMEOUT)
            assert not thread.is_alive()
        outcomes = [first[1], second[1]]
    won = [out[0] for out in outcomes if isinstance(out[0], Taken)]
    lost = [out[0] for out in outcomes if isinstance(out[0], HandoffError)]
    assert len(won) == 1
    assert len(lost) == 1
    assert handed.successor.pid == os.getpid()
    won[0].close()


def test_no_successor_within_the_timeout_releases_nothing(tmp_sock_dir: Path) -> None:
    listener = TCPListener.listen("127.0.0.1", 0, timeout=1.0)
    with listener, HandoffServer.listen(tmp_sock_dir / "control", {"web": listener}) as offer:
        with pytest.raises(HandoffError, match=r"no successor took the sockets within 0\.05 s"):
            offer.hand_off(timeout=0.05)
        # nothing was released: the listener still accepts here
        with TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT):
            listener.accept().close()


def test_the_offering_process_refuses_another_user(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")
    other = os.geteuid() + 1
    with assert_no_fd_leak():
        listener = TCPListener.listen("127.0.0.1", 0, timeout=1.0)
        with listener, HandoffServer.listen(control, {"web": listener}, allowed_uids={other}) as offer:
            thread, out = in_thread(lambda: offer.hand_off(timeout=TIMEOUT))
            with pytest.raises(HandoffError, match="closed the connection before offering"):
                take(control, timeout=TIMEOUT)
            offer.close()
            with pytest.raises(HandoffError, match="was closed while waiting"):
                joined(thread, out)
    assert not os.path.exists(control)


def test_the_successor_refuses_another_user_and_the_old_hears_why(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")
    with assert_no_fd_leak():
        listener = TCPListener.listen("127.0.0.1", 0, timeout=1.0)
        with listener, HandoffServer.listen(control, {"web": listener}) as offer:
            thread, out = in_thread(lambda: offer.hand_off(timeout=TIMEOUT))
            with pytest.raises(HandoffError, match=r"runs as uid \d+; allowed uids"):
                take(control, timeout=TIMEOUT, allowed_uids={os.geteuid() + 1})
            with take(control, timeout=TIMEOUT):
                handed: Handed = joined(thread, out)
    assert "refused the offer" in handed.failed[0]
    assert "allowed uids" in handed.failed[0]


def test_every_kind_is_handed_over_typed(tmp_sock_dir: Path) -> None:
    with assert_no_fd_leak():
        tcp = TCPListener.listen("127.0.0.1", 0, timeout=1.0)
        unix = UnixListener.listen(tmp_sock_dir / "u.sock", timeout=1.0)
        seq = UnixSeqpacketListener.listen(tmp_sock_dir / "s.sock", timeout=1.0)
        udp = UDPTransport.bind("127.0.0.1", 0, timeout=1.0)
        objects: dict[str, handoff.Offerable] = {"web": tcp, "local": unix, "packets": seq, "dns": udp}
        with tcp, unix, seq, udp, HandoffServer.listen(tmp_sock_dir / "control", objects) as offer:
            thread, out = in_thread(lambda: offer.hand_off(timeout=TIMEOUT))
            taken = take(tmp_sock_dir / "control", timeout=TIMEOUT)
            joined(thread, out)
        with taken:
            assert taken.get("web", TCPListener).timeout is None
            local = taken.get("local", UnixListener)
            assert local.address.path == str(tmp_sock_dir / "u.sock")
            assert taken.get("packets", UnixSeqpacketListener).address.path == str(tmp_sock_dir / "s.sock")
            dns = taken.get("dns", UDPTransport)
            with pytest.raises(TypeError, match="not a UnixListener"):
                taken.get("web", UnixListener)
            with pytest.raises(KeyError, match="nothing was handed over as 'nope'"):
                taken.get("nope", TCPListener)
            # the old UnixListener's close() left the file: the successor serves it now
            with UnixStreamTransport.connect(tmp_sock_dir / "u.sock", timeout=TIMEOUT) as client:
                local.timeout = TIMEOUT
                with local.accept() as conn:
                    client.send_all(b"x")
                    conn.timeout = TIMEOUT
                    assert conn.recv_exactly(1) == b"x"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.sendto(b"q", dns.local_address.to_sockaddr())
                dns.timeout = TIMEOUT
                assert dns.recv_from(10).data == b"q"


def test_sync_datagram_objects_without_a_timeout_are_refused(tmp_sock_dir: Path) -> None:
    with UDPTransport.bind("127.0.0.1", 0) as datagrams:
        with pytest.raises(ValueError, match=r"has no timeout.*set its timeout"):
            HandoffServer.listen(tmp_sock_dir / "control", {"dns": datagrams})
    with TCPListener.listen("127.0.0.1", 0) as listener:
        with pytest.raises(ValueError, match="nothing to hand over"):
            HandoffServer.listen(tmp_sock_dir / "control", {})
        with pytest.raises(ValueError, match="non-empty str"):
            HandoffServer.listen(tmp_sock_dir / "control", {"x" * 256: listener})
    assert not (tmp_sock_dir / "control").exists()


def test_take_with_nobody_offering(tmp_sock_dir: Path) -> None:
    with pytest.raises(HandoffError, match="no server offers sockets here"):
        take(tmp_sock_dir / "nobody", timeout=TIMEOUT)


# -- a hostile or broken peer: the offer is checked before anything is trusted ---------------------

HEAD = struct.Struct("!4sBBHI")


def offer_bytes(count: int, body: bytes, *, magic: bytes = b"TTHO", version: int = 1, kind: int = 1) -> bytes:
    return HEAD.pack(magic, version, kind, count, len(body)) + body


def entry(code: int, name: bytes) -> bytes:
    return struct.pack("!BB", code, len(name)) + name


TCP_ENTRY = entry(1, b"web")
MALFORMED = {
    "short header": (b"TTHO\x01", 1, "shorter than the 12-byte header"),
    "bad magic": (offer_bytes(1, TCP_ENTRY, magic=b"HTTP"), 1, "not a hand-off message"),
    "other version": (offer_bytes(1, TCP_ENTRY, version=9), 1, "version 9"),
    "not an offer": (offer_bytes(1, TCP_ENTRY, kind=3), 1, "expected OFFER, got message type RELEASED"),
    "4 GiB announced, 4 bytes sent": (
        HEAD.pack(b"TTHO", 1, 1, 1, 0xFFFFFFFF) + b"abcd",
        1,
        "4294967295 bytes",
    ),
    "more fds announced than sent": (
        offer_bytes(2, TCP_ENTRY + entry(1, b"two")),
        1,
        "announces 2 descriptors but 1",
    ),
    "fewer fds announced than sent": (offer_bytes(1, TCP_ENTRY), 2, "announces 1 descriptors but 2"),
    "entry cut short": (
        offer_bytes(1, struct.pack("!BB", 1, 200) + b"web"),
        1,
        "name of 200 bytes; 3 arrived",
    ),
    "unknown network": (offer_bytes(1, entry(42, b"web")), 1, "network code 42"),
    "name twice": (offer_bytes(2, TCP_ENTRY + TCP_ENTRY), 2, "offered twice"),
    "trailing bytes": (offer_bytes(1, TCP_ENTRY + b"junk"), 1, "4 bytes follow the 1 entries"),
    "kind differs from the entry": (
        offer_bytes(1, entry(5, b"web")),
        1,
        "announced as unixgram but its descriptor is a SOCK_STREAM",
    ),
    "oversized message": (offer_bytes(1, TCP_ENTRY + b"\0" * 70_000), 1, "longer than 65033 bytes"),
}


def fake_offer(control: str, message: bytes, nfds: int) -> tuple[threading.Thread, list[bytes]]:
    """A fake old server at *control* sending one crafted message with *nfds* listening TCP descriptors."""
    heard: list[bytes] = []
    listeners = [TCPListener.listen("127.0.0.1", 0) for _ in range(nfds)]
    server = UnixSeqpacketListener.listen(control, timeout=TIMEOUT)

    def run() -> None:
        with server, server.accept() as conn:
            conn.timeout = TIMEOUT
            conn.send_fds(message, listeners)
            for item in listeners:
                item.close()
            heard.append(conn.recv(4096))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, heard


@pytest.mark.parametrize(("message", "nfds", "words"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_offer_is_refused_and_no_fd_leaks(
    tmp_sock_dir: Path, message: bytes, nfds: int, words: str
) -> None:
    control = str(tmp_sock_dir / "control")
    with assert_no_fd_leak():
        thread, heard = fake_offer(control, message, nfds)
        with pytest.raises(HandoffError, match=words) as info:
            take(control, timeout=TIMEOUT)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert info.value.address == control
    assert isinstance(info.value, TransportError)
    # the fake server heard why: a REFUSED message carrying the reason
    assert heard
    assert heard[0][:4] == b"TTHO"
    assert heard[0][5] == 4
    assert words.split(maxsplit=1)[0].encode() in heard[0]


def test_the_module_exports_what_it_documents() -> None:
    assert set(handoff.__all__) == {"Handed", "HandoffError", "HandoffServer", "Offerable", "Taken", "take"}
    assert HandoffError.__module__ == "transports.handoff"


def test_the_old_process_going_away_before_released_leaves_nothing_adopted(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")
    with assert_no_fd_leak():
        # A valid offer of one listener; the fake old server then closes instead of answering RELEASED.
        thread, heard = fake_offer(control, offer_bytes(1, TCP_ENTRY), 1)
        with pytest.raises(HandoffError, match="closed the connection instead of sending RELEASED"):
            take(control, timeout=TIMEOUT)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert heard == [HEAD.pack(b"TTHO", 1, 2, 0, 0)]  # it got READY; the descriptors we held are closed


def test_the_old_process_going_away_before_offering(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")
    with assert_no_fd_leak():
        server = UnixSeqpacketListener.listen(control, timeout=TIMEOUT)

        def vanish() -> None:
            with server, server.accept():
                pass

        thread = threading.Thread(target=vanish)
        thread.start()
        with pytest.raises(HandoffError, match="closed the connection before offering"):
            take(control, timeout=TIMEOUT)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
