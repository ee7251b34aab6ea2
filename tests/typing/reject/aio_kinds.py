"""Operations an async transport's kind does not have are type errors, as on the sync face (:apue:`16.2`, :apue:`16.5`)."""

from __future__ import annotations

from transports import aio


async def unix_handler(conn: aio.UnixStreamTransport) -> None:
    await conn.send_all(b"x")


async def stream_only(t: aio.Transport, d: aio.DatagramTransport, udp: aio.UDPTransport) -> None:
    await t.recv_exactly(4)  # E: attr-defined
    await t.send_all(b"x")  # E: attr-defined
    t.shutdown()  # E: attr-defined
    await d.recv_exactly(4)  # E: attr-defined
    await udp.send_all(b"x")  # E: attr-defined
    udp.shutdown("write")  # E: attr-defined
    udp.last_bytes_sent  # E: attr-defined
    await (await aio.connect("tcp://127.0.0.1:80")).recv_exactly(1)  # E: attr-defined


async def datagram_only(
    s: aio.StreamTransport, tcp: aio.TCPTransport, seqpacket: aio.UnixSeqpacketTransport
) -> None:
    await s.send_to(b"x", ("127.0.0.1", 53))  # E: attr-defined
    await s.recv_from(100)  # E: attr-defined
    await tcp.send_to(b"x", ("127.0.0.1", 53))  # E: attr-defined
    await seqpacket.recv_from(100)  # E: attr-defined
    s.max_message_size  # E: attr-defined


async def kind_extras(
    tcp: aio.TCPTransport,
    udp: aio.UDPTransport,
    seqpacket: aio.UnixSeqpacketTransport,
    s: aio.StreamTransport,
) -> None:
    await tcp.send_fds(b"x", [0])  # E: attr-defined
    await udp.recv_fds(10, 1)  # E: attr-defined
    tcp.peer_credentials()  # E: attr-defined
    await udp.sendfile("data.bin")  # E: attr-defined
    await seqpacket.sendfile("data.bin")  # E: attr-defined
    await s.recv_into_file("data.bin")  # E: attr-defined
    aio.TCPTransport.pair()  # E: attr-defined


async def wrong_kinds(tcp: aio.TCPListener, seqpacket: aio.UnixSeqpacketTransport) -> None:
    unix_listener: aio.Listener[aio.UnixStreamTransport] = tcp  # E: assignment
    stream: aio.StreamTransport = await aio.UDPTransport.bind("127.0.0.1", 0)  # E: assignment
    datagram: aio.DatagramTransport = seqpacket  # E: assignment
    listener: aio.UnixListener = await aio.listen("unix:///run/app.sock")  # E: assignment
    zero_copy: aio.SendfileCapable = seqpacket  # E: assignment
    await tcp.serve(unix_handler)  # E: arg-type
