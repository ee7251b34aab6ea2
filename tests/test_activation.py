"""systemd socket activation by exec: a launcher puts sockets at fds 3, 4, ... and execs the code under test (:apue:`16.4`).

The launcher does what systemd does between fork and exec: it moves the
inherited sockets into place, sets ``LISTEN_PID`` to its own pid (which the
exec keeps), ``LISTEN_FDS`` and ``LISTEN_FDNAMES``, and execs a fresh Python
running the code under test. That code prints one JSON object, read back here.
The test's own clients queue their connections and datagrams before the
launch, and read the answers once the child has exited.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import transports
from conftest import TIMEOUT

#: Moves the fds of argv[1] to 3, 4, ..., sets LISTEN_* and argv[3]'s variables, execs ``python -c argv[2] argv[4:]``.
LAUNCHER = r"""
import fcntl, json, os, sys
fds, code, env = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for target, fd in enumerate(high, 3):
    os.dup2(fd, target)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(len(fds))
for key, value in env.items():
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value.replace("{pid}", str(os.getpid())).replace("{ppid}", str(os.getppid()))
os.execv(sys.executable, [sys.executable, "-c", code, *sys.argv[4:]])
"""


def launch(
    socks: Sequence[socket.socket | int],
    code: str,
    names: Sequence[str] | None = None,
    env: Mapping[str, str | None] | None = None,
    argv: Sequence[str] = (),
) -> dict[str, Any]:
    """Run *code* (it sets ``result``) activated with *socks* at fds 3, 4, ...; return ``result``."""
    fds = [s if isinstance(s, int) else s.fileno() for s in socks]
    extra = dict(env or {})
    if names is not None:
        extra.setdefault("LISTEN_FDNAMES", ":".join(names))
    program = "import json, os, sys\n" + textwrap.dedent(code) + "\nprint(json.dumps(result))\n"
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, json.dumps(fds), program, json.dumps(extra), *argv],
        pass_fds=fds,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 4,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return parsed


@pytest.fixture
def five(tmp_sock_dir: Path) -> Iterator[dict[str, socket.socket]]:
    """One socket of each kind, as a .socket unit would make them."""
    made: dict[str, socket.socket] = {}
    try:
        made["web"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        made["web"].bind(("127.0.0.1", 0))
        made["web"].listen(8)
        made["dns"] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        made["dns"].bind(("127.0.0.1", 0))
        made["api"] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        made["api"].bind(str(tmp_sock_dir / "api.sock"))
        made["api"].listen(8)
        made["log"] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        made["log"].bind(str(tmp_sock_dir / "log.sock"))
        made["pkt"] = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        made["pkt"].bind(str(tmp_sock_dir / "pkt.sock"))
        made["pkt"].listen(8)
        yield made
    finally:
        for sock in made.values():
            sock.close()


FIVE_CHILD = """
import transports
from transports import TCPListener, UDPTransport, UnixDatagramTransport, UnixListener, UnixSeqpacketListener
acts = transports.activation()
result = {
    "names": list(acts.names),
    "entries": [[e.fd, e.name, e.what, e.adopts_as] for e in acts],
    "env": [k for k in os.environ if k.startswith("LISTEN_")],
    "inheritable": [os.get_inheritable(fd) for fd in range(3, 8)],
    "again": len(transports.activation()),
}
def answer_connection(name, listener):
    with listener, listener.accept() as conn:
        conn.timeout = 5
        conn.send(name.encode() + b":" + conn.recv(4))
    return listener
def answer_datagram(name, transport):
    with transport:
        transport.timeout = 5
        got = transport.recv_from(100)
        transport.send_to(name.encode() + b":" + got.data, got.address)
    return transport
web = answer_connection("web", acts.adopt("web", TCPListener))
dns = answer_datagram("dns", acts.adopt("dns", UDPTransport))
api = answer_connection("api", acts.adopt("api", UnixListener))
log = answer_datagram("log", acts.adopt("log", UnixDatagramTransport))
pkt = answer_connection("pkt", acts.adopt("pkt", UnixSeqpacketListener))
result["types"] = [type(x).__name__ for x in (web, dns, api, log, pkt)]
"""


def test_all_five_kinds_are_adopted_by_name_and_answer(
    five: dict[str, socket.socket], tmp_sock_dir: Path
) -> None:
    web_port = five["web"].getsockname()[1]
    clients: list[socket.socket] = []
    try:
        for name, family, kind, where in (
            ("web", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", web_port)),
            ("dns", socket.AF_INET, socket.SOCK_DGRAM, five["dns"].getsockname()),
            ("api", socket.AF_UNIX, socket.SOCK_STREAM, str(tmp_sock_dir / "api.sock")),
            ("log", socket.AF_UNIX, socket.SOCK_DGRAM, str(tmp_sock_dir / "log.sock")),
            ("pkt", socket.AF_UNIX, socket.SOCK_SEQPACKET, str(tmp_sock_dir / "pkt.sock")),
        ):
            client = socket.socket(family, kind)
            clients.append(client)
            client.settimeout(TIMEOUT)
            if name == "log":
                client.bind(str(tmp_sock_dir / "client.sock"))  # so that the answer can come back
            client.connect(where)
            client.send(b"ping")
        order = ["web", "dns", "api", "log", "pkt"]
        result = launch([five[n] for n in order], FIVE_CHILD, names=order)
        answers = [client.recv(100) for client in clients]
    finally:
        for client in clients:
            client.close()
    assert answers == [b"web:ping", b"dns:ping", b"api:ping", b"log:ping", b"pkt:ping"]
    assert result["names"] == order
    assert [e[0] for e in result["entries"]] == [3, 4, 5, 6, 7]
    assert [e[3] for e in result["entries"]] == [
        "TCPListener",
        "UDPTransport",
        "UnixListener",
        "UnixDatagramTransport",
        "UnixSeqpacketListener",
    ]
    assert result["entries"][0][2] == f"a listening TCP socket on 127.0.0.1:{web_port}"
    assert result["entries"][3][2] == f"a Unix datagram socket on {tmp_sock_dir / 'log.sock'}"
    assert result["types"] == [e[3] for e in result["entries"]]
    assert result["env"] == []  # cleared, so that children do not inherit them
    assert result["inheritable"] == [False] * 5  # close-on-exec, as sd_listen_fds makes them
    assert result["again"] == 0  # a second call finds nothing, as sd_listen_fds
    for name in ("api", "log", "pkt"):  # an adopted Unix socket never removes systemd's file
        assert (tmp_sock_dir / f"{name}.sock").exists()


def test_positions_default_names_and_untyped_adopt(five: dict[str, socket.socket]) -> None:
    result = launch(
        [five["dns"], five["web"]],
        """
        import transports
        acts = transports.activation()
        first, second = acts.adopt(0), acts.adopt(1)
        result = {"names": list(acts.names), "types": [type(first).__name__, type(second).__name__],
                  "unknown": "unknown" in acts, "port": second.address.port if hasattr(second, "address") else None}
        first.close(); second.close()
        """,
    )
    assert result["names"] == ["unknown", "unknown"]  # LISTEN_FDNAMES unset, as sd_listen_fds_with_names
    assert result["types"] == ["UDPTransport", "TCPListener"]
    assert result["port"] == five["web"].getsockname()[1]


def test_another_process_pid_takes_nothing_but_clears(five: dict[str, socket.socket]) -> None:
    result = launch(
        [five["web"]],
        """
        import transports
        acts = transports.activation()
        result = {"len": len(acts), "env": sorted(k for k in os.environ if k.startswith("LISTEN_")),
                  "inheritable": os.get_inheritable(3)}
        """,
        names=["web"],
        env={"LISTEN_PID": "{ppid}"},
    )
    assert result == {"len": 0, "env": [], "inheritable": True}  # fd 3 not touched: not ours


def test_keeping_the_variables_and_no_variables(five: dict[str, socket.socket]) -> None:
    result = launch(
        [five["web"]],
        """
        import transports
        kept = transports.activation(clear_environment=False)
        env = sorted(k for k in os.environ if k.startswith("LISTEN_"))
        cleared = transports.activation()
        third = transports.activation()
        result = {"kept": len(kept), "env": env, "cleared": len(cleared), "third": len(third),
                  "left": [k for k in os.environ if k.startswith("LISTEN_")]}
        cleared.close()
        """,
        names=["web"],
    )
    assert result == {
        "kept": 1,
        "env": ["LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID"],
        "cleared": 1,
        "third": 0,
        "left": [],
    }
    nothing = launch(
        [],
        "import transports\nacts = transports.activation()\nresult = {'len': len(acts), 'repr': repr(acts)}",
        env={"LISTEN_PID": None, "LISTEN_FDS": None},
    )
    assert nothing == {"len": 0, "repr": "<Activation nothing passed>"}


WRONG_KINDS = """
import transports
from transports import ActivationError, TCPListener, UDPTransport, TCPTransport
acts = transports.activation()
result = {"what": {e.name: e.what for e in acts}, "as": {e.name: e.adopts_as for e in acts}}
def error(call):
    try:
        call()
    except ActivationError as exc:
        return str(exc)
    return None
result["udp_as_tcp"] = error(lambda: acts.adopt("dns", TCPListener))
result["fifo"] = error(lambda: acts.adopt("fifo"))
result["accepted"] = error(lambda: acts.adopt("conn", TCPTransport))
result["missing"] = error(lambda: acts.adopt("nope"))
result["position"] = error(lambda: acts.adopt(9))
dns = acts.adopt("dns", UDPTransport)  # the refusal left it adoptable
result["twice"] = error(lambda: acts.adopt("dns", UDPTransport))
fifo = acts.detach("fifo")
result["fifo_fd"] = fifo
os.close(fifo)
dns.close()
acts.close()
result["closed"] = error(lambda: acts.adopt("conn"))
"""


def test_wrong_kinds_are_refused_naming_the_fd(five: dict[str, socket.socket]) -> None:
    read_end, write_end = os.pipe()
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        result = launch([five["dns"], read_end, server], WRONG_KINDS, names=["dns", "fifo", "conn"])
    finally:
        for fd in (read_end, write_end):
            os.close(fd)
        server.close()
        client.close()
    assert result["what"]["fifo"] == "a FIFO (ListenFIFO=), not a socket"
    assert result["what"]["conn"].startswith("a connected Unix stream socket")
    assert result["as"] == {"dns": "UDPTransport", "fifo": None, "conn": None}
    port = five["dns"].getsockname()[1]
    assert result["udp_as_tcp"] == (
        f"fd 3 ('dns') is a UDP socket on 127.0.0.1:{port}: adopt it as UDPTransport "
        "(or transports.aio.UDPTransport), not 'TCPListener'"
    )
    assert "fd 4 ('fifo') is a FIFO" in result["fifo"]
    assert "detach" in result["fifo"]
    assert "Accept=yes" in result["accepted"]
    assert "no descriptor named 'nope'; passed: fd 3 'dns', fd 4 'fifo', fd 5 'conn'" in result["missing"]
    assert "no descriptor at position 9 (fd 12)" in result["position"]
    assert "fd 3 ('dns') was already adopted as UDPTransport" in result["twice"]
    assert result["fifo_fd"] == 4
    assert "fd 5 ('conn') was already detached or closed" in result["closed"]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"LISTEN_FDS": "two"}, "LISTEN_FDS='two' is not a number >= 1"),
        ({"LISTEN_FDS": "0"}, "LISTEN_FDS='0' is not a number >= 1"),
        ({"LISTEN_PID": "x{pid}"}, "LISTEN_PID="),
        ({"LISTEN_FDNAMES": "a:b"}, "LISTEN_FDS=1 but LISTEN_FDNAMES='a:b' names 2 descriptors"),
        ({"LISTEN_FDS": "3"}, "fd 4 ('unknown') was passed, but it is not open"),
    ],
    ids=["not-a-number", "zero", "bad-pid", "names-mismatch", "fd-not-open"],
)
def test_malformed_variables_raise_and_still_clear(
    five: dict[str, socket.socket], env: dict[str, str], words: str
) -> None:
    result = launch(
        [five["web"]],
        """
        import transports
        try:
            transports.activation()
            result = {"error": None}
        except transports.ActivationError as exc:
            result = {"error": str(exc)}
        result["env"] = [k for k in os.environ if k.startswith("LISTEN_")]
        """,
        env=env,
    )
    assert words in result["error"]
    assert result["env"] == []


URLS = """
import asyncio
import transports
from transports import aio, ActivationError
def error(call):
    try:
        call()
    except (ActivationError, transports.AddressError) as exc:
        return type(exc).__name__ + ": " + str(exc)
    return None
result = {}
result["wrong_op"] = error(lambda: transports.bind("systemd://web"))
result["wrong_kind"] = error(lambda: transports.listen("systemd://web", kind="datagram"))
result["missing"] = error(lambda: transports.listen("systemd://nope"))
result["connect"] = error(lambda: transports.connect("systemd://web"))
result["bad_fd"] = error(lambda: transports.listen("fd://x"))
result["not_open"] = error(lambda: transports.listen("fd://60"))
with transports.listen("systemd://web", kind="stream", timeout=5) as web:
    result["web"] = [type(web).__name__, web.address.url("tcp"), web.timeout]
    result["again"] = error(lambda: transports.listen("fd://3"))
with transports.bind("fd://4", kind="datagram") as dns:
    result["dns"] = type(dns).__name__
async def main():
    listener = await aio.listen("systemd://api")
    async with listener:
        conn = await asyncio.wait_for(listener.accept(), 5)
        async with conn:
            await conn.send_all(b"aio:" + await asyncio.wait_for(conn.recv_exactly(4), 5))
        return type(listener).__module__ + "." + type(listener).__name__
result["aio"] = asyncio.run(main())
"""


def test_systemd_and_fd_urls_on_both_faces(five: dict[str, socket.socket], tmp_sock_dir: Path) -> None:
    port = five["web"].getsockname()[1]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(TIMEOUT)
        client.connect(str(tmp_sock_dir / "api.sock"))
        client.send(b"ping")
        result = launch([five["web"], five["dns"], five["api"]], URLS, names=["web", "dns", "api"])
        assert client.recv(100) == b"aio:ping"
    assert result["web"] == ["TCPListener", f"tcp://127.0.0.1:{port}", 5]
    assert result["dns"] == "UDPTransport"
    assert result["aio"] == "transports.aio.unix.UnixListener"
    assert result["wrong_op"] == (
        f"ActivationError: systemd://web: fd 3 ('web') is a listening TCP socket on 127.0.0.1:{port}; "
        "open it with listen()"
    )
    assert "a stream socket, not datagram; pass kind='stream'" in result["wrong_kind"]
    assert result["missing"] == (
        "ActivationError: systemd://nope: no descriptor named 'nope'; passed: fd 3 'web', fd 4 'dns', "
        "fd 5 'api'; name sockets with FileDescriptorName= (or --fdname)"
    )
    assert result["connect"].startswith(
        "AddressError: connect('systemd://web'): a passed socket is listened on"
    )
    assert result["bad_fd"] == "AddressError: 'fd://x': write fd://N with N a descriptor number, e.g. fd://3"
    assert "fd 60 is not open" in result["not_open"]
    assert "fd://3: fd 3 ('web') was already adopted as TCPListener" in result["again"]


def test_fd_url_outside_activation_adopts_the_inherited_socket(five: dict[str, socket.socket]) -> None:
    """``fd://N`` works for any launcher that passes a socket at N, with no LISTEN_* at all."""
    port = five["web"].getsockname()[1]
    result = launch(
        [five["web"]],
        """
        import transports
        with transports.listen("fd://3") as web:
            result = {"port": web.address.port, "inheritable": os.get_inheritable(3)}
            try:
                transports.listen("fd://3")
            except transports.ActivationError as exc:
                result["again"] = str(exc)
        """,
        env={"LISTEN_PID": None, "LISTEN_FDS": None},
    )
    assert result == {
        "port": port,
        "inheritable": False,
        "again": "fd://3: fd 3 ('unknown') is already open as TCPListener",
    }


def test_adopting_on_the_aio_face(five: dict[str, socket.socket]) -> None:
    port = five["web"].getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        client.send(b"ping")
        result = launch(
            [five["web"]],
            """
            import asyncio
            import transports
            from transports import aio
            acts = transports.activation()
            async def main():
                async with acts.adopt("web", aio.TCPListener) as web:
                    conn = await asyncio.wait_for(web.accept(), 5)
                    async with conn:
                        await conn.send_all(b"aio:" + await asyncio.wait_for(conn.recv_exactly(4), 5))
                    return type(web).__module__
            result = {"module": asyncio.run(main())}
            """,
            names=["web"],
        )
        assert client.recv(100) == b"aio:ping"
    assert result == {"module": "transports.aio.tcp"}


def test_a_shared_name_is_taken_by_position() -> None:
    """A unit with two ``ListenStream=`` lines names both sockets after itself."""
    fds = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        fds.append(sock.detach())
    with transports.Activation(
        [transports.PassedFd(fd, "web.socket", "a listening TCP socket", "TCPListener") for fd in fds]
    ) as acts:
        with pytest.raises(transports.ActivationError) as info:
            acts.adopt("web.socket")
        assert str(info.value) == (
            f"2 descriptors are named 'web.socket' (fds {fds[0]}, {fds[1]}); take them by position (0, 1)"
        )
        with acts.adopt(1, transports.TCPListener) as second:
            assert second.fileno() == fds[1]
        with pytest.raises(TypeError, match="a position"):
            acts.entry(True)
        assert acts.names == ("web.socket", "web.socket")
        assert "web.socket" in acts
        assert "web" not in acts
    # close() closed the one nobody adopted
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fds[0])
