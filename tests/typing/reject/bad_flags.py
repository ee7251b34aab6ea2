"""Flags of the wrong direction are type errors (APUE 16.5: send flags and receive flags differ)."""

from __future__ import annotations

from transports import RecvFlags, SendFlags, StreamTransport, Transport


def wrong_direction(t: Transport, s: StreamTransport, buffer: bytearray) -> None:
    t.send(b"x", RecvFlags.PEEK)  # E: arg-type
    t.recv(10, SendFlags.MORE)  # E: arg-type
    t.recv_into(buffer, 0, SendFlags.DONTWAIT)  # E: arg-type
    s.send_all(b"x", RecvFlags.WAITALL)  # E: arg-type
    t.send(b"x", 0x40)  # E: arg-type
    t.send("text")  # E: arg-type


def wrong_values() -> None:
    flags: SendFlags = RecvFlags.PEEK  # E: assignment
    SendFlags.BOGUS  # E: attr-defined
    RecvFlags.TRUNC  # E: attr-defined


def mixed_directions() -> None:
    SendFlags.MORE | RecvFlags.PEEK  # E: operator
    RecvFlags.PEEK | SendFlags.MORE  # E: operator
    SendFlags.OOB & RecvFlags.OOB  # E: operator
    both: SendFlags = SendFlags.DONTWAIT | RecvFlags.DONTWAIT  # E: operator
