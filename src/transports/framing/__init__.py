"""Message boundaries on a byte stream: length-prefixed and delimited framing (:apue:`16.5`, :apue:`16.3.1`, :apue:`14.6`).

A byte stream keeps no message boundaries (:apue:`16.5`): two sends can
arrive as one receive and one send as several. The classes here put the
boundaries back on any :class:`~transports.StreamTransport`.
:class:`MessageStream` sends each message after a 4-byte length in network
byte order (:apue:`16.3.1`), written together with the body in one gather
write (:apue:`14.6`); :class:`LineStream` ends each message with a
delimiter, ``b"\\n"`` by default. Both refuse a message over their size
limit on receive *before* reading or allocating it, and below the limit the
memory they take grows with the bytes that arrived, never with a size the
peer announced: a peer cannot make this process reserve memory it did not
send. Both tell apart the clean end of a stream (between messages:
``recv_message`` returns ``None``) from a stream cut in the middle of a
message (:class:`~transports.UnexpectedEOF` with what did arrive).

The rules live in ``transports.framing.codec``, which does no I/O; the
streams in ``transports.framing.sync`` only wait for the bytes, and so
do their async twins, :class:`transports.aio.MessageStream` and
:class:`transports.aio.LineStream` (in ``transports.framing.aio``),
which drive the same codecs over any async byte stream (:apue:`16.8`).
"""

from __future__ import annotations

from transports.framing import codec as _codec
from transports.framing.sync import LineStream, MessageStream

__all__ = [
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_SIZE",
    "HEADER_SIZE",
    "LineStream",
    "MessageStream",
]

#: Bytes of the length header in front of every message.
HEADER_SIZE = _codec.HEADER_SIZE
#: :class:`MessageStream`'s default limit on one message: 16 MiB.
DEFAULT_MAX_SIZE = _codec.DEFAULT_MAX_SIZE
#: :class:`LineStream`'s default limit on one line, delimiter excluded: 64 KiB.
DEFAULT_MAX_LINE = _codec.DEFAULT_MAX_LINE

# Documented and shown (in reprs and tracebacks) where users import them from.
MessageStream.__module__ = LineStream.__module__ = __name__
