"""Batches of datagrams and UDP offload: the public constants and error (:apue:`16.5`).

Linux can move many UDP datagrams in one system call: ``sendmsg`` with a
``UDP_SEGMENT`` control message hands the kernel one buffer that it sends
as equal datagrams (segmentation offload, GSO), and a socket with
``UDP_GRO`` switched on may receive several datagrams of one sender
coalesced into one buffer, with their size in a control message (receive
offload, GRO). Python's :mod:`socket` module has neither constant, so they
are defined here where the platform has them, and ``None`` elsewhere.
The methods are ``send_many``, ``recv_many`` and ``send_segments`` of
:class:`~transports.UDPTransport` (the first two also on
:class:`~transports.UnixDatagramTransport`), and ``bind(..., gro=True)``.
"""

from __future__ import annotations

import socket
import sys
from typing import Final

from transports.errors import TransportError

__all__ = ["MAX_SEGMENTS", "SOL_UDP", "UDP_GRO", "UDP_SEGMENT", "OffloadUnavailable"]

_LINUX = sys.platform.startswith("linux")

#: The protocol level of UDP's own socket options and control messages (``IPPROTO_UDP``).
SOL_UDP: Final[int] = int(getattr(socket, "SOL_UDP", getattr(socket, "IPPROTO_UDP", 17)))
#: Linux ``UDP_SEGMENT`` (4.18+): a ``uint16`` control message or option giving the datagram size of one send; ``None`` elsewhere.
UDP_SEGMENT: Final[int | None] = 103 if _LINUX else None
#: Linux ``UDP_GRO`` (5.0+): an option that lets the kernel hand over coalesced datagrams; ``None`` elsewhere.
UDP_GRO: Final[int | None] = 104 if _LINUX else None
#: The most datagrams one ``send_segments`` call sends (older kernels' ``UDP_MAX_SEGMENTS``; newer take 128).
MAX_SEGMENTS: Final[int] = 64


class OffloadUnavailable(TransportError):
    """UDP segmentation or receive offload cannot be used here (:apue:`16.5`).

    Raised by ``send_segments(..., fallback=False)`` when the platform has no
    ``UDP_SEGMENT`` or the kernel refuses it (older than Linux 4.18, or a
    device without checksum offload), and by ``UDPTransport.bind(...,
    gro=True)`` when there is no ``UDP_GRO`` (Linux 5.0+). The message names
    what is missing; nothing was sent. Offload extends :apue:`16.5`: one
    ``sendmsg``/``recvmsg`` moves many datagrams.
    """
