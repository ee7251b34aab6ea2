"""Wrong arguments to the async constructors and entry points are type errors, as on the sync face (:apue:`16.4`, :apue:`16.8`).

The constructors made from the sync ones (``AsyncTwin``) keep the sync
signature, so their misuse is caught the same way as the written-out ones.
"""

from __future__ import annotations

from transports import aio
from transports.options import SO_RCVBUF


async def written_out() -> None:
    await aio.TCPTransport.connect("127.0.0.1", "80")  # E: arg-type
    await aio.TCPTransport.connect("127.0.0.1", 80, family="ipv5")  # E: arg-type
    await aio.TCPTransport.connect("127.0.0.1", 80, happy_eyeballs_delay="fast")  # E: arg-type
    await aio.TCPTransport.connect("127.0.0.1", 80, source=("::1", 0))  # E: arg-type
    await aio.TCPTransport.connect("127.0.0.1", 80, options=[SO_RCVBUF])  # E: list-item
    await aio.TCPTransport.connect("127.0.0.1", 80, 5)  # E: call-arg
    await aio.UnixStreamTransport.connect(42)  # E: arg-type
    await aio.UnixStreamTransport.connect("/run/app.sock", timeout="5")  # E: arg-type
    await aio.UnixSeqpacketTransport.connect("/run/app.sock", local="/run/me.sock")  # E: call-arg


async def made_from_the_sync_ones() -> None:
    await aio.TCPListener.listen("127.0.0.1")  # E: call-arg
    await aio.TCPListener.listen("", 0, dual_stack="yes")  # E: arg-type
    await aio.UDPTransport.bind(42, 0)  # E: arg-type
    await aio.UDPTransport.connect("::1", 53, source="::1")  # E: arg-type
    await aio.UnixListener.listen("/run/app.sock", backlog="many")  # E: arg-type
    await aio.UnixListener.listen("/run/app.sock", allowed_uids=["root"])  # E: list-item
    await aio.UnixDatagramTransport.bind(b"/run/app.sock")  # E: arg-type
    await aio.UnixDatagramTransport.connect("/run/app.sock", local=7)  # E: arg-type
    await aio.UnixSeqpacketListener.listen("/run/app.sock", mode="600")  # E: arg-type


async def entry_points() -> None:
    await aio.connect(8080)  # E: call-overload
    await aio.connect("tcp://127.0.0.1:80", timeout="5")  # E: call-overload
    await aio.listen("tcp://:0", backlog="many")  # E: call-overload
    await aio.bind("udp://127.0.0.1:0", mode="600")  # E: call-overload
    aio.socketpair("bogus")  # E: call-overload
    aio.UnixStreamTransport.pair("datagram")  # E: call-arg
    streams: tuple[aio.UnixStreamTransport, ...] = aio.socketpair("datagram")  # E: assignment
