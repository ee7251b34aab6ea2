"""Zero-downtime hand-off, async face (:apue:`17.4`, :apue:`16.8`): the same protocol awaited on the loop."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from conftest import assert_no_fd_leak
from test_handoff import MALFORMED, TIMEOUT, Hammer, child, fake_offer, line_of
from transports import Served, aio
from transports.aio import handoff as aio_handoff
from transports.handoff import HandoffError

#: An async successor: takes "web" with the aio face and answers b"new" until stdin closes.
AIO_SUCCESSOR = """
import asyncio, sys
from transports import aio
from transports.aio import handoff

async def main():
    taken = await handoff.take(sys.argv[1], timeout=10)
    listener = taken.get("web", aio.TCPListener)
    print("took", listener.address.port, flush=True)
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), listener.close)  # stdin closed: stop

    async def answer(conn):
        await conn.send_all(b"new")

    async with listener:
        await listener.serve(answer)
    loop.remove_reader(sys.stdin.fileno())

asyncio.run(main())
print("stopped", flush=True)
"""


async def old_answer(conn: aio.TCPTransport) -> None:
    await conn.send_all(b"old")


def test_async_old_server_hands_off_to_an_async_child_while_a_client_hammers(tmp_sock_dir: Path) -> None:
    control = str(tmp_sock_dir / "control")

    async def main() -> tuple[aio_handoff.Handed, Served, int]:
        listener = await aio.TCPListener.listen("127.0.0.1", 0)
        port = listener.address.port
        serving = asyncio.create_task(listener.serve(old_answer))
        with Hammer(port) as hammer:
            await asyncio.to_thread(hammer.wait_for, b"old", 20)
            async with await aio_handoff.HandoffServer.listen(control, {"web": listener}) as offer:
                successor = child(AIO_SUCCESSOR, control)
                handed = await offer.hand_off(timeout=TIMEOUT)
            async with asyncio.timeout(TIMEOUT):
                served = await serving  # released: closed here, drained
            assert listener.closed
            await asyncio.to_thread(hammer.wait_for, b"new", 20)
        assert line_of(successor) == f"took {port}"
        successor.communicate("", timeout=TIMEOUT)
        assert successor.returncode == 0
        assert hammer.refused == 0
        assert hammer.failed == []
        return handed, served, successor.pid

    handed, served, pid = asyncio.run(main())
    assert handed.successor.pid == pid
    assert served.cut == ()
    assert not os.path.exists(control)


def test_aio_take_in_the_same_loop_and_every_kind(tmp_sock_dir: Path) -> None:
    async def main() -> None:
        tcp = await aio.TCPListener.listen("127.0.0.1", 0)
        unix = await aio.UnixListener.listen(tmp_sock_dir / "u.sock")
        udp = await aio.UDPTransport.bind("127.0.0.1", 0)
        objects: dict[str, aio_handoff.Offerable] = {"web": tcp, "local": unix, "dns": udp}
        ready = threading.Event()
        async with await aio_handoff.HandoffServer.listen(
            tmp_sock_dir / "control", objects, on_ready=ready.set
        ) as offer:
            handing = asyncio.create_task(offer.hand_off(timeout=TIMEOUT))
            taken = await aio_handoff.take(tmp_sock_dir / "control", timeout=TIMEOUT)
            handed = await handing
        assert ready.is_set()
        assert handed.names == ("web", "local", "dns")
        assert tcp.closed  # released by close() on this face
        assert unix.closed
        assert udp.closed
        with taken:
            web = taken.get("web", aio.TCPListener)
            assert not web.raw_socket.getblocking()
            local = taken.get("local", aio.UnixListener)
            assert (tmp_sock_dir / "u.sock").exists()  # the old listener's close() left it
            async with await aio.UnixStreamTransport.connect(
                tmp_sock_dir / "u.sock", timeout=TIMEOUT
            ) as client:
                async with asyncio.timeout(TIMEOUT):
                    conn = await local.accept()
                async with conn:
                    await client.send_all(b"y")
                    async with asyncio.timeout(TIMEOUT):
                        assert await conn.recv_exactly(1) == b"y"
            assert isinstance(taken.get("dns", aio.UDPTransport), aio.UDPTransport)

    asyncio.run(main())


@pytest.mark.parametrize(
    "case", ["4 GiB announced, 4 bytes sent", "more fds announced than sent", "bad magic"]
)
def test_aio_take_refuses_a_malformed_offer_without_leaking(tmp_sock_dir: Path, case: str) -> None:
    message, nfds, words = MALFORMED[case]
    control = str(tmp_sock_dir / "control")
    with assert_no_fd_leak():
        thread, heard = fake_offer(control, message, nfds)
        with pytest.raises(HandoffError, match=words):
            asyncio.run(aio_handoff.take(control, timeout=TIMEOUT))
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert heard[0][5] == 4  # REFUSED, with the reason


def test_aio_hand_off_times_out_and_releases_nothing(tmp_sock_dir: Path) -> None:
    async def main() -> None:
        async with await aio.TCPListener.listen("127.0.0.1", 0) as listener:
            async with await aio_handoff.HandoffServer.listen(tmp_sock_dir / "c", {"web": listener}) as offer:
                with pytest.raises(HandoffError, match="nothing was released"):
                    await offer.hand_off(timeout=0.05)
            assert not listener.closed

    asyncio.run(main())


def test_the_async_module_mirrors_the_sync_one() -> None:
    from transports import handoff

    assert aio_handoff.__all__ == handoff.__all__
    assert aio_handoff.HandoffError is handoff.HandoffError
    assert aio_handoff.Taken is handoff.Taken
