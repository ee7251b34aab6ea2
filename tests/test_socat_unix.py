"""socat against our Unix seqpacket sockets under abstract names, and its credentials (APUE 17.2, 17.3).

tests/test_socat.py covers abstract stream and datagram names both ways;
this file adds the seqpacket kind under an abstract name in both directions
(message boundaries included) and checks that ``peer_credentials`` names the
socat process that connected. Same rules: socat runs as a separate program,
nothing sleeps, every wait has a timeout.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import uuid
from pathlib import Path

import pytest

import transports
from conftest import TIMEOUT
from test_socat import MESSAGE_SIZES, SOCAT_BLOCK, SOCAT_FILE_SIZE, Socat, _payload, _sha
from transports import Credentials, UnixAddress, UnixSeqpacketListener, UnixSeqpacketTransport

pytestmark = [
    pytest.mark.socat,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not hasattr(socket, "SOCK_SEQPACKET"),
        reason="abstract names and Unix seqpacket sockets are Linux features here",
    ),
]

_SEQPACKET = f"socktype={int(getattr(socket, 'SOCK_SEQPACKET', 5))}"


@pytest.fixture(scope="module")
def socat_path() -> str:
    """The socat program; missing, it skips the tests, or fails them when CI requires it."""
    path = shutil.which("socat")
    if path is None:
        if os.environ.get("TRANSPORTS_REQUIRE_SOCAT") == "1":
            pytest.fail("socat is not installed but TRANSPORTS_REQUIRE_SOCAT=1 requires it")
        pytest.skip("socat is not installed (set TRANSPORTS_REQUIRE_SOCAT=1 to fail instead)")
    return path


def _name() -> str:
    return f"typed-transports-socat-{uuid.uuid4().hex}"


def test_abstract_seqpacket_socat_sends_we_receive(socat_path: str, tmp_sock_dir: Path) -> None:
    payload = _payload(SOCAT_FILE_SIZE, "abstract-seqpacket-recv")
    source = tmp_sock_dir / "source"
    source.write_bytes(payload)
    name = _name()
    with UnixSeqpacketListener.listen(f"\0{name}", timeout=TIMEOUT) as listener:
        assert listener.address == UnixAddress(name, abstract=True)
        args = [
            "-u",
            "-b",
            str(SOCAT_BLOCK),
            f"OPEN:{source},rdonly",
            f"ABSTRACT-CONNECT:{name},{_SEQPACKET}",
        ]
        with Socat(socat_path, args) as socat:
            with listener.accept() as conn:
                conn.timeout = TIMEOUT
                # The kernel recorded who connected: the socat process.
                assert conn.peer_credentials() == Credentials(socat.proc.pid, os.getuid(), os.getgid())
                messages = []
                while message := conn.recv(2 * SOCAT_BLOCK):
                    messages.append(message)
            socat.finish()
    # One read of the file is one message: boundaries survive the trip.
    assert [len(m) for m in messages] == [SOCAT_BLOCK] * 4 + [4321]
    assert _sha(b"".join(messages)) == _sha(payload)


def test_abstract_seqpacket_we_send_socat_receives(socat_path: str, tmp_sock_dir: Path) -> None:
    messages = [_payload(size, f"abstract-seqpacket-send-{size}") for size in MESSAGE_SIZES]
    out = tmp_sock_dir / "received"
    name = _name()
    listen = f"ABSTRACT-LISTEN:{name},{_SEQPACKET}"
    with Socat(socat_path, ["-u", "-b", "65536", listen, f"CREATE:{out}"], notices=True) as socat:
        socat.wait_listening()
        with transports.connect(f"unixpacket://@{name}", timeout=TIMEOUT) as conn:
            assert isinstance(conn, UnixSeqpacketTransport)
            assert conn.remote_address == UnixAddress(name, abstract=True)
            # socat listens; its process is the one the kernel names.
            assert conn.peer_credentials().pid == socat.proc.pid
            for message in messages:
                assert conn.send(message) == len(message)
            conn.shutdown("write")
            assert conn.recv(16) == b""  # socat closed after our end of stream
        socat.finish()
    assert _sha(out.read_bytes()) == _sha(b"".join(messages))
