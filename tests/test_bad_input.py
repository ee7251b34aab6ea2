"""Bad input to every public call: refused with TypeError or ValueError before any system call.

Each table row is a method, bad arguments and the exception expected. A row
runs twice: on an open transport (no descriptor may change, the peer must
receive nothing) and on a closed one, where any system call would fail with
:class:`~transports.errors.TransportClosed`, so getting the TypeError or
ValueError there proves the check came first. Hypothesis then throws random
option values, random flag bits and random ancillary data at the library.

URL parsing (tests/test_urls.py) and the frame decoders (tests/test_framing.py)
have their own hypothesis suites.
"""

from __future__ import annotations

import array
import contextlib
import errno
import io
import math
import os
import socket
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transports
from conftest import TIMEOUT, assert_no_fd_leak, make_pair
from transports import (
    AddressError,
    FdsTruncated,
    InetAddress,
    Linger,
    MessageStream,
    RecvFlags,
    SendFlags,
    TransportClosed,
    TransportError,
    UDPTransport,
    UnixStreamTransport,
    UnknownScheme,
    UnsupportedFlag,
    UnsupportedOption,
    WouldBlock,
)
from transports.fdpass import MAX_FDS
from transports.options import SO_LINGER, SO_RCVBUF, SO_SNDBUF, SocketOption, all_options

#: The package and its options untyped, to pass what the types forbid.
api: Any = transports
api_options: Any = transports.options

STREAMS = ["tcp4", "unix"]
UNIX_FD = ["unix", "unixgram-bound", "unixpacket"]
DATAGRAMS = ["udp4", "unixgram-bound"]
EVERY = ["tcp4", "unix", "udp4", "unixgram-bound", "unixpacket"]
#: A file for the sendfile rows (made once per test in the socket directory).
SOURCE = "source.bin"

Call = Callable[[Any, Path], object]


def _address_for(t: Any) -> object:
    return ("127.0.0.1", 9) if isinstance(t, UDPTransport) else "/nonexistent/peer.sock"


def _set_timeout(value: object) -> Call:
    return lambda t, d: setattr(t, "timeout", value)


#: (name, pairs, call with bad arguments, expected exception).
ROWS: list[tuple[str, list[str], Call, type[Exception]]] = [
    # send / recv / recv_into: every kind
    ("send None", EVERY, lambda t, d: t.send(None), TypeError),
    ("send str", EVERY, lambda t, d: t.send("text"), TypeError),
    ("send RecvFlags", EVERY, lambda t, d: t.send(b"x", RecvFlags.PEEK), TypeError),
    ("send int flags", EVERY, lambda t, d: t.send(b"x", 0x40), TypeError),
    ("recv negative", EVERY, lambda t, d: t.recv(-1), ValueError),
    ("recv str", EVERY, lambda t, d: t.recv("10"), TypeError),
    ("recv float", EVERY, lambda t, d: t.recv(1.5), TypeError),
    ("recv bool", EVERY, lambda t, d: t.recv(True), TypeError),
    ("recv SendFlags", EVERY, lambda t, d: t.recv(10, SendFlags.DONTWAIT), TypeError),
    ("recv_into bytes", EVERY, lambda t, d: t.recv_into(b"immutable"), TypeError),
    ("recv_into None", EVERY, lambda t, d: t.recv_into(None), TypeError),
    ("recv_into negative", EVERY, lambda t, d: t.recv_into(bytearray(4), -1), ValueError),
    ("recv_into beyond buffer", EVERY, lambda t, d: t.recv_into(bytearray(4), 10), ValueError),
    ("recv_into str nbytes", EVERY, lambda t, d: t.recv_into(bytearray(4), "1"), TypeError),
    ("recv_into huge nbytes", EVERY, lambda t, d: t.recv_into(bytearray(4), 2**64), ValueError),
    ("recv huge negative", EVERY, lambda t, d: t.recv(-(2**64)), ValueError),
    # timeout and options: every kind
    ("timeout negative", EVERY, _set_timeout(-1), ValueError),
    ("timeout nan", EVERY, _set_timeout(math.nan), ValueError),
    ("timeout inf", EVERY, _set_timeout(math.inf), ValueError),
    ("timeout huge", EVERY, _set_timeout(1e300), ValueError),
    ("timeout str", EVERY, _set_timeout("1"), TypeError),
    ("timeout bool", EVERY, _set_timeout(True), TypeError),
    ("set_option by name", EVERY, lambda t, d: t.set_option("SO_RCVBUF", 1), TypeError),
    ("get_option None", EVERY, lambda t, d: t.get_option(None), TypeError),
    ("set_option str value", EVERY, lambda t, d: t.set_option(SO_RCVBUF, "1"), TypeError),
    ("set_option negative", EVERY, lambda t, d: t.set_option(SO_RCVBUF, -1), ValueError),
    ("set_option Linger int", ["tcp4", "unix"], lambda t, d: t.set_option(SO_LINGER, 0), TypeError),
    # streams
    ("send_all None", STREAMS, lambda t, d: t.send_all(None), TypeError),
    ("send_all RecvFlags", STREAMS, lambda t, d: t.send_all(b"x", RecvFlags.PEEK), TypeError),
    ("recv_exactly negative", STREAMS, lambda t, d: t.recv_exactly(-1), ValueError),
    ("recv_exactly str", STREAMS, lambda t, d: t.recv_exactly("1"), TypeError),
    ("shutdown unknown", [*STREAMS, "unixpacket"], lambda t, d: t.shutdown("sideways"), ValueError),
    ("shutdown int", [*STREAMS, "unixpacket"], lambda t, d: t.shutdown(1), ValueError),
    ("sendfile None", STREAMS, lambda t, d: t.sendfile(None), TypeError),
    ("sendfile float", STREAMS, lambda t, d: t.sendfile(1.5), TypeError),
    ("sendfile text file", STREAMS, lambda t, d: t.sendfile(io.StringIO("x")), TypeError),
    ("sendfile offset negative", STREAMS, lambda t, d: t.sendfile(d / SOURCE, -1), ValueError),
    ("sendfile offset str", STREAMS, lambda t, d: t.sendfile(d / SOURCE, "0"), TypeError),
    ("sendfile count negative", STREAMS, lambda t, d: t.sendfile(d / SOURCE, 0, -1), ValueError),
    ("sendfile headers str", STREAMS, lambda t, d: t.sendfile(d / SOURCE, headers="x"), TypeError),
    ("sendfile trailers str", STREAMS, lambda t, d: t.sendfile(d / SOURCE, trailers="x"), TypeError),
    ("sendfile progress int", STREAMS, lambda t, d: t.sendfile(d / SOURCE, progress=5), TypeError),
    ("recv_into_file None", STREAMS, lambda t, d: t.recv_into_file(None), TypeError),
    ("recv_into_file float", STREAMS, lambda t, d: t.recv_into_file(1.5), TypeError),
    ("recv_into_file text file", STREAMS, lambda t, d: t.recv_into_file(io.StringIO()), TypeError),
    ("recv_into_file count negative", STREAMS, lambda t, d: t.recv_into_file(d / "o", -1), ValueError),
    ("recv_into_file progress int", STREAMS, lambda t, d: t.recv_into_file(d / "o", progress=5), TypeError),
    ("MessageStream max_size negative", STREAMS, lambda t, d: MessageStream(t, max_size=-1), ValueError),
    ("MessageStream send str", STREAMS, lambda t, d: api.MessageStream(t).send_message("x"), TypeError),
    ("LineStream delimiter str", STREAMS, lambda t, d: api.LineStream(t, delimiter="x"), ValueError),
    ("LineStream send str", STREAMS, lambda t, d: api.LineStream(t).send_message("x"), TypeError),
    ("MessageStream over a datagram", DATAGRAMS, lambda t, d: MessageStream(t), TypeError),
    # datagrams
    ("send_to None", DATAGRAMS, lambda t, d: t.send_to(None, _address_for(t)), TypeError),
    ("send_to int address", DATAGRAMS, lambda t, d: t.send_to(b"x", 5), AddressError),
    (
        "send_to RecvFlags",
        DATAGRAMS,
        lambda t, d: t.send_to(b"x", _address_for(t), RecvFlags.PEEK),
        TypeError,
    ),
    ("send_to bad port", ["udp4"], lambda t, d: t.send_to(b"x", ("127.0.0.1", -1)), AddressError),
    ("send_to 3-tuple", ["udp4"], lambda t, d: t.send_to(b"x", ("127.0.0.1", 9, 0)), AddressError),
    (
        "send_to unix to inet",
        ["unixgram-bound"],
        lambda t, d: t.send_to(b"x", InetAddress("::1", 9)),
        AddressError,
    ),
    ("recv_from negative", DATAGRAMS, lambda t, d: t.recv_from(-1), ValueError),
    ("recv_from str", DATAGRAMS, lambda t, d: t.recv_from("1"), TypeError),
    # descriptor passing
    ("send_fds None", UNIX_FD, lambda t, d: t.send_fds(b"x", None), TypeError),
    ("send_fds negative fd", UNIX_FD, lambda t, d: t.send_fds(b"x", [-1]), ValueError),
    ("send_fds huge fd", UNIX_FD, lambda t, d: t.send_fds(b"x", [2**40]), ValueError),
    ("send_fds str fd", UNIX_FD, lambda t, d: t.send_fds(b"x", ["3"]), TypeError),
    ("send_fds bool fd", UNIX_FD, lambda t, d: t.send_fds(b"x", [True]), TypeError),
    ("send_fds too many", UNIX_FD, lambda t, d: t.send_fds(b"x", [0] * (MAX_FDS + 1)), ValueError),
    ("send_fds data None", UNIX_FD, lambda t, d: t.send_fds(None, [0]), TypeError),
    ("send_fds stream no data", ["unix"], lambda t, d: t.send_fds(b"", [0]), ValueError),
    ("recv_fds negative bytes", UNIX_FD, lambda t, d: t.recv_fds(-1, 1), ValueError),
    ("recv_fds negative fds", UNIX_FD, lambda t, d: t.recv_fds(1, -1), ValueError),
    ("recv_fds too many fds", UNIX_FD, lambda t, d: t.recv_fds(1, MAX_FDS + 1), ValueError),
    ("recv_fds str", UNIX_FD, lambda t, d: t.recv_fds("1", 1), TypeError),
    ("recv_fds WAITALL", UNIX_FD, lambda t, d: t.recv_fds(1, 1, RecvFlags.WAITALL), UnsupportedFlag),
]

CASES = [
    pytest.param(name, pair_name, call, expected, id=f"{name}-{pair_name}")
    for name, pair_names, call, expected in ROWS
    for pair_name in pair_names
]


def _nothing_arrived(transport: Any) -> None:
    with pytest.raises(WouldBlock):
        transport.recv(100, RecvFlags.DONTWAIT)


@pytest.mark.parametrize(("name", "pair_name", "call", "expected"), CASES)
def test_bad_arguments_are_refused_first(
    name: str, pair_name: str, call: Call, expected: type[Exception], tmp_sock_dir: Path
) -> None:
    (tmp_sock_dir / SOURCE).write_bytes(b"file data")
    with contextlib.ExitStack() as stack:
        pair = make_pair(pair_name, stack, tmp_sock_dir)
        with assert_no_fd_leak():
            with pytest.raises(expected) as info:
                call(pair.a, tmp_sock_dir)
            assert not isinstance(info.value, TransportClosed)
        _nothing_arrived(pair.b)
        assert pair.a.timeout == TIMEOUT  # a refused timeout leaves the old one
        # Closed, any system call fails with EBADF: the refusal must come first.
        pair.a.close()
        with assert_no_fd_leak(), pytest.raises(expected):
            call(pair.a, tmp_sock_dir)
    assert not (tmp_sock_dir / "o").exists(), "a refused recv_into_file created its file"


# -- constructors: nothing is made, nothing is left -----------------------------------------------

CONSTRUCTORS: list[tuple[str, Callable[[Path], object], type[Exception]]] = [
    ("tcp connect host int", lambda d: api.TCPTransport.connect(5, 80), AddressError),
    ("tcp connect port str", lambda d: api.TCPTransport.connect("127.0.0.1", "80"), AddressError),
    ("tcp connect port range", lambda d: api.TCPTransport.connect("127.0.0.1", 70000), AddressError),
    (
        "tcp connect timeout negative",
        lambda d: api.TCPTransport.connect("127.0.0.1", 9, timeout=-1),
        ValueError,
    ),
    (
        "tcp connect timeout inf",
        lambda d: api.TCPTransport.connect("127.0.0.1", 9, timeout=math.inf),
        ValueError,
    ),
    ("tcp connect timeout str", lambda d: api.TCPTransport.connect("127.0.0.1", 9, timeout="1"), TypeError),
    ("tcp connect family", lambda d: api.TCPTransport.connect("127.0.0.1", 9, family="ipv5"), ValueError),
    (
        "tcp connect source str",
        lambda d: api.TCPTransport.connect("127.0.0.1", 9, source="127.0.0.1"),
        TypeError,
    ),
    ("tcp connect options int", lambda d: api.TCPTransport.connect("127.0.0.1", 9, options=[5]), TypeError),
    (
        "tcp connect option value",
        lambda d: api.TCPTransport.connect("127.0.0.1", 9, options=[api_options.SO_KEEPALIVE(1)]),
        TypeError,
    ),
    ("tcp listen backlog negative", lambda d: api.TCPListener.listen("127.0.0.1", 0, backlog=-1), ValueError),
    ("tcp listen backlog str", lambda d: api.TCPListener.listen("127.0.0.1", 0, backlog="1"), ValueError),
    (
        "tcp listen timeout nan",
        lambda d: api.TCPListener.listen("127.0.0.1", 0, timeout=math.nan),
        ValueError,
    ),
    ("udp bind port", lambda d: api.UDPTransport.bind("127.0.0.1", -1), AddressError),
    ("udp connect source str", lambda d: api.UDPTransport.connect("127.0.0.1", 9, source="x"), TypeError),
    ("udp bind options", lambda d: api.UDPTransport.bind("127.0.0.1", 0, options=["SO_RCVBUF"]), TypeError),
    ("unix listen mode str", lambda d: api.UnixListener.listen(d / "s", mode="0600"), ValueError),
    ("unix listen mode negative", lambda d: api.UnixListener.listen(d / "s", mode=-1), ValueError),
    ("unix listen backlog negative", lambda d: api.UnixListener.listen(d / "s", backlog=-1), ValueError),
    (
        "unixpacket listen backlog str",
        lambda d: api.UnixSeqpacketListener.listen(d / "s", backlog="1"),
        ValueError,
    ),
    ("unix listen allowed_uids str", lambda d: api.UnixListener.listen(d / "s", allowed_uids="0"), TypeError),
    ("unix listen path None", lambda d: api.UnixListener.listen(None), AddressError),
    ("unix listen path too long", lambda d: api.UnixListener.listen(d / ("x" * 200)), AddressError),
    ("unix connect path int", lambda d: api.UnixStreamTransport.connect(5), AddressError),
    ("unix connect timeout str", lambda d: api.UnixStreamTransport.connect(d / "s", timeout="1"), TypeError),
    ("unixgram bind path int", lambda d: api.UnixDatagramTransport.bind(5), AddressError),
    (
        "unixgram connect local int",
        lambda d: api.UnixDatagramTransport.connect(d / "s", local=5),
        AddressError,
    ),
    ("url connect int", lambda d: api.connect(5), AddressError),
    ("url connect unknown scheme", lambda d: api.connect("nope://x"), UnknownScheme),
    ("url listen None", lambda d: api.listen(None), AddressError),
    ("socketpair kind", lambda d: api.socketpair("nope"), ValueError),
    ("from_socket None", lambda d: api.TCPTransport.from_socket(None), TypeError),
]


def _make_and_close(make: Callable[[Path], object], directory: Path) -> None:
    made = make(directory)
    # Only reached when nothing was raised: close it so the test's failure is the only trouble.
    close = getattr(made, "close", None)
    if close is not None:
        close()


@pytest.mark.parametrize(
    ("name", "make", "expected"), [pytest.param(*row, id=row[0]) for row in CONSTRUCTORS]
)
def test_bad_constructor_arguments_leave_nothing(
    name: str, make: Callable[[Path], object], expected: type[Exception], tmp_sock_dir: Path
) -> None:
    with assert_no_fd_leak(), pytest.raises(expected):
        _make_and_close(make, tmp_sock_dir)
    assert list(tmp_sock_dir.iterdir()) == [], "a refused constructor left a file"


# -- hypothesis: every option, random values ------------------------------------------------------

OPTION_PAIRS = ["tcp4", "udp4", "unix", "unixgram-socketpair", "unixpacket-socketpair"]

option_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.integers(-2, 70000),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.binary(max_size=8),
    st.integers(0, 100).map(Linger),
)


def _consistent(option: SocketOption[Any], value: object, read: object) -> bool:
    """Whether *read* is what the kernel may answer after *value* was set."""
    if option in (SO_RCVBUF, SO_SNDBUF):
        # Linux doubles the size and clamps it between a floor and net.core.*mem_max.
        return isinstance(read, int) and read > 0
    return read == value


def test_random_option_values(tmp_sock_dir: Path) -> None:
    with contextlib.ExitStack() as stack:
        pairs = [make_pair(name, stack, tmp_sock_dir) for name in OPTION_PAIRS]

        @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.sampled_from(all_options()), option_values, st.sampled_from(range(len(pairs))))
        def check(option: SocketOption[Any], value: object, which: int) -> None:
            transport: Any = pairs[which].b
            refused: TransportError | None = None
            try:
                transport.set_option(option, value)
            except (TypeError, ValueError, UnsupportedOption):
                return
            except TransportError as exc:
                refused = exc
            if refused is not None:
                # The kernel has narrower ranges than the type (TCP_KEEPIDLE <= 32767;
                # IPV6_V6ONLY is fixed once bound): refused with EINVAL, named.
                assert refused.errno == errno.EINVAL, refused
                assert option.name in str(refused)
                return
            read = transport.get_option(option)
            assert _consistent(option, value, read), (option, value, read)

        with assert_no_fd_leak():
            check()
        for pair in pairs:  # every transport still works after all that
            pair.a.send(b"ok")
            assert pair.b.recv(10) == b"ok"


# -- hypothesis: random flag bits -------------------------------------------------------------------

FLAG_PAIRS = ["tcp4", "udp4", "unix", "unixgram-socketpair", "unixpacket-socketpair"]
flag_bits = st.one_of(
    st.integers(0, 2**16),
    st.sampled_from([int(f) for f in SendFlags] + [int(f) for f in RecvFlags]).flatmap(
        lambda bit: st.integers(0, 2**8).map(lambda extra: bit | extra)
    ),
    st.integers(0, 2**41),
)


def _refused(flags: int, allowed: int) -> bool:
    return bool(flags & ~allowed)


def test_random_flags_are_honoured_or_refused_before_any_data_moves(tmp_sock_dir: Path) -> None:
    with contextlib.ExitStack() as stack:
        closed = []
        for name in FLAG_PAIRS:
            pair = make_pair(name, stack, tmp_sock_dir)
            pair.a.close()
            closed.append(pair.a)

        @settings(max_examples=400, deadline=None)
        @given(flag_bits, st.sampled_from(range(len(closed))))
        def check(bits: int, which: int) -> None:
            transport: Any = closed[which]
            send_flags, recv_flags = SendFlags(bits), RecvFlags(bits)
            calls: list[tuple[Callable[[], object], bool]] = [
                (lambda: transport.send(b"x", send_flags), _refused(bits, transport._send_allowed)),
                (lambda: transport.recv(1, recv_flags), _refused(bits, transport._recv_allowed)),
                (
                    lambda: transport.recv_into(bytearray(1), 0, recv_flags),
                    _refused(bits, transport._recv_allowed),
                ),
            ]
            if hasattr(transport, "send_all"):
                calls.append(
                    (lambda: transport.send_all(b"x", send_flags), _refused(bits, transport._send_allowed))
                )
            for call, refused in calls:
                # Closed: a flag that got past the check reaches the kernel and fails with EBADF.
                with pytest.raises((UnsupportedFlag, TransportClosed)) as info:
                    call()
                if refused:
                    assert isinstance(info.value, UnsupportedFlag), (bits, info.value)
                    # The message starts by naming the refused flag, even a bit no member has.
                    assert str(info.value).startswith(("SendFlags", "RecvFlags")), info.value
                elif bits:
                    assert isinstance(info.value, TransportClosed), (bits, info.value)

        check()


def test_accepted_random_flags_really_work(tmp_sock_dir: Path) -> None:
    # The other half: on a live pair, flags that pass the check do not break the data.
    with contextlib.ExitStack() as stack:
        pair = make_pair("unixpacket-socketpair", stack, tmp_sock_dir)

        @settings(max_examples=100, deadline=None)
        @given(flag_bits)
        def check(bits: int) -> None:
            try:
                pair.a.send(b"payload", SendFlags(bits))
            except UnsupportedFlag:
                _nothing_arrived(pair.b)
                return
            assert pair.b.recv(100) == b"payload"

        check()


# -- hypothesis: random ancillary data into recv_fds ------------------------------------------------


@contextlib.contextmanager
def _pipes(count: int) -> Iterator[list[int]]:
    fds: list[int] = []
    try:
        for _ in range(count):
            fds.extend(os.pipe())
        yield fds
    finally:
        for fd in fds:
            os.close(fd)


_UCRED = struct.Struct("iII")

ancillary = st.lists(
    st.one_of(
        st.tuples(st.just("rights"), st.integers(0, 12)),
        st.tuples(st.just("credentials"), st.just(0)),
        st.tuples(st.just("garbage"), st.integers(0, 64)),
    ),
    max_size=3,
)


def _drain_fds(transport: Any) -> None:
    """Receive and close whatever is left queued (with its descriptors)."""
    while True:
        try:
            got = transport.recv_fds(1 << 16, MAX_FDS, RecvFlags.DONTWAIT)
        except WouldBlock:
            return
        except FdsTruncated:
            continue
        for fd in got.fds:
            os.close(fd)
        if not got.data and not got.fds:
            return


@pytest.mark.parametrize("kind", ["stream", "datagram", "seqpacket"])
def test_random_ancillary_data_into_recv_fds(kind: str) -> None:
    a, b = api.socketpair(kind)
    with a, b, _pipes(6) as spare:
        b.timeout = TIMEOUT

        @settings(max_examples=150, deadline=None)
        @given(
            ancillary,
            st.binary(min_size=1, max_size=64),
            st.integers(0, 80),
            st.integers(0, 16),
            st.booleans(),
        )
        def check(
            parts: list[tuple[str, int]], data: bytes, max_bytes: int, max_fds: int, passcred: bool
        ) -> None:
            b.raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, int(passcred))
            cmsgs = []
            sent_fds = 0
            for what, count in parts:
                if what == "rights":
                    numbers = [spare[i % len(spare)] for i in range(count)]
                    cmsgs.append((socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", numbers).tobytes()))
                    sent_fds += count
                elif what == "credentials":
                    creds = _UCRED.pack(os.getpid(), os.getuid(), os.getgid())
                    cmsgs.append((socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds))
                else:
                    cmsgs.append((socket.SOL_SOCKET, 0x7F, bytes(count)))
            try:
                a.raw_socket.sendmsg([data], cmsgs)
            except OSError:
                return  # the kernel refused to send it (a garbage type): nothing to receive
            with assert_no_fd_leak():
                try:
                    got = b.recv_fds(max_bytes, max_fds)
                except FdsTruncated as exc:
                    truncated: FdsTruncated | None = exc
                else:
                    truncated = None
                if truncated is not None:
                    # All that arrived were closed (assert_no_fd_leak checks it).
                    assert truncated.received <= max_fds + 1
                else:
                    assert len(got.fds) <= max_fds
                    assert len(got.fds) <= sent_fds
                    for fd in got.fds:
                        assert not os.get_inheritable(fd)  # close-on-exec
                        assert stat.S_ISFIFO(os.fstat(fd).st_mode)
                        os.close(fd)
                    if kind != "stream":
                        assert got.data == data[:max_bytes]
                        assert got.truncated == (len(data) > max_bytes)
                _drain_fds(b)

        check()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda t: t.recv_into(bytearray(4), 10), "nbytes 10 is larger than the 4-byte buffer"),
        (lambda t: t.recv_into(bytearray(4), -1), "nbytes must be >= 0, got -1"),
        (lambda t: t.recv_into(bytearray(4), 1.5), "nbytes must be an int, got 1.5"),
        (lambda t: t.recv_into(b"immutable"), "needs a writable buffer"),
        (lambda t: t.recv(-1), "max_bytes must be >= 0, got -1"),
    ],
)
def test_stream_receive_sizes_are_refused_in_our_words(call: Callable[[Any], object], words: str) -> None:
    """The socket module says "negative buffersize in recv_into" or "Python int too large": say what to pass."""
    a, b = UnixStreamTransport.pair()
    with a, b:
        with pytest.raises((TypeError, ValueError)) as info:
            call(b)
        assert words in str(info.value)
