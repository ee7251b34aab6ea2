"""What the URL entry points do not promise without ``kind=`` (or with another kind)."""

from __future__ import annotations

import transports
from transports import TCPListener, aio


def unnarrowed(url: str) -> None:
    transports.connect(url).send_all(b"x")  # E: attr-defined
    transports.connect(url).recv_exactly(2)  # E: attr-defined
    transports.bind(url).send_to(b"x", url)  # E: attr-defined
    transports.listen(url).accept().send_all(b"x")  # E: attr-defined
    transports.listen(url, kind="stream").address.port  # E: union-attr


def another_kind(url: str) -> None:
    transports.connect(url, kind="stream").send_to(b"x", url)  # E: attr-defined
    transports.connect(url, kind="datagram").recv_exactly(2)  # E: attr-defined
    transports.connect(url, kind="strem")  # E: call-overload
    transports.connect(url, "stream")  # E: call-overload
    transports.listen(url, kind="datagram").accept().send_to(b"x", url)  # E: attr-defined


def listener_addresses() -> None:
    TCPListener.listen("127.0.0.1", 0).address.path  # E: attr-defined


async def aio_unnarrowed(url: str) -> None:
    await (await aio.connect(url)).send_all(b"x")  # E: attr-defined
    await (await aio.connect(url, kind="stream")).send_to(b"x", url)  # E: attr-defined
    (await aio.listen(url)).address.port  # E: union-attr
