"""The ``transports`` command over TLS: ``serve``, ``send`` and ``recv`` with tls:// and tls+unix:// URLs.

Every command runs in its own process on loopback, with certificates made at
test time (tests/tls_certs.py); every wait is bounded (test_cli's helpers).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from test_cli import WAIT, Background, assert_one_line_error, digest, run_bounded
from test_tls import in_thread
from tls_certs import OTHER_HOST, PKI, tls_pki
from transports.tls import TLSListener, TLSTransport

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here

#: A few MiB, not a multiple of a record.
SIZE = 3 << 20 | 4321


def server_args(pki: PKI, name: str = "server") -> list[str]:
    files = pki.files(name)
    return ["--cert", str(files.cert), "--key", str(files.key)]


def listen_url(scheme: str, directory: Path) -> str:
    return "tls://127.0.0.1:0" if scheme == "tls" else f"tls+unix://{directory}/tls.sock"


def client_args(pki: PKI, url: str) -> list[str]:
    """What a client needs for *url*: the test CA, and a host name for tls+unix."""
    extra = [] if url.startswith("tls://") else ["--server-hostname", "localhost"]
    return ["--cafile", str(pki.ca_file), *extra]


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


# -- data both ways ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["tls", "tls+unix"])
def test_send_to_an_echo_gets_it_all_back(
    scheme: str, tmp_sock_dir: Path, tls_pki: PKI, big_file: Path
) -> None:
    with Background(
        "serve", listen_url(scheme, tmp_sock_dir), "--echo", "--once", *server_args(tls_pki)
    ) as server:
        url = server.url()
        assert url.startswith(f"{scheme}:")
        sent = run_bounded("send", url, str(big_file), *client_args(tls_pki, url))
        assert sent.returncode == 0, sent.stderr
        assert sent.stderr == b""
        assert hashlib.sha256(sent.stdout).hexdigest() == digest(big_file)
        status, _, err = server.finish()
    assert status == 0, err


def test_send_stdin_to_recv(tmp_path: Path, tls_pki: PKI, big_file: Path) -> None:
    target = tmp_path / "copy.bin"
    with Background("recv", "tls://127.0.0.1:0", str(target), *server_args(tls_pki)) as receiver:
        url = receiver.url()
        sent = run_bounded("send", url, "-", *client_args(tls_pki, url), stdin=big_file.read_bytes())
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == b""
        status, _, err = receiver.finish()
    assert status == 0, err
    assert digest(target) == digest(big_file)


def test_serve_sink(tmp_path: Path, tls_pki: PKI, big_file: Path) -> None:
    sink = tmp_path / "sink.bin"
    with Background(
        "serve", "tls://127.0.0.1:0", "--sink", str(sink), "--once", *server_args(tls_pki)
    ) as server:
        url = server.url()
        sent = run_bounded("send", url, str(big_file), *client_args(tls_pki, url))
        assert sent.returncode == 0, sent.stderr
        status, _, err = server.finish()
    assert status == 0, err
    assert digest(sink) == digest(big_file)


def test_recv_connect_from_a_tls_server(tmp_path: Path, tls_pki: PKI, big_file: Path) -> None:
    data = big_file.read_bytes()
    target = tmp_path / "pulled.bin"
    with TLSListener.listen("127.0.0.1", 0, context=tls_pki.server_context(), timeout=WAIT) as listener:

        def push() -> None:
            with listener.accept() as conn:
                assert isinstance(conn, TLSTransport)
                conn.timeout = WAIT
                conn.send_all(data)
                conn.shutdown("write")
                assert conn.recv(1) == b""

        join = in_thread(push)
        pulled = run_bounded(
            "recv", "--connect", listener.address.url("tls"), str(target), "--cafile", str(tls_pki.ca_file)
        )
        join()
    assert pulled.returncode == 0, pulled.stderr
    assert digest(target) == hashlib.sha256(data).hexdigest()


def test_mutual_tls(tls_pki: PKI) -> None:
    client = tls_pki.files("client")
    required = ["--cafile", str(tls_pki.ca_file)]
    with Background(
        "serve", "tls://127.0.0.1:0", "--echo", "--max-connections", "2", *server_args(tls_pki), *required
    ) as server:
        url = server.url()
        without = run_bounded("send", url, "-", *client_args(tls_pki, url), stdin=b"no certificate")
        assert without.returncode == 1
        assert b"Traceback" not in without.stderr
        with_cert = run_bounded(
            "send",
            url,
            "-",
            *client_args(tls_pki, url),
            "--cert",
            str(client.cert),
            "--key",
            str(client.key),
            stdin=b"with a certificate",
        )
        assert with_cert.returncode == 0, with_cert.stderr
        assert with_cert.stdout == b"with a certificate"
        status, _, err = server.finish()
    assert status == 0, err
    assert err.count("\n") == 1, err  # one line about the client without a certificate
    assert "transports serve: " in err


def test_recv_refuses_a_client_certificate_of_another_ca(tmp_path: Path, tls_pki: PKI) -> None:
    stranger = tls_pki.files("stranger")
    target = tmp_path / "never.bin"
    with Background(
        "recv", "tls://127.0.0.1:0", str(target), *server_args(tls_pki), "--cafile", str(tls_pki.ca_file)
    ) as receiver:
        url = receiver.url()
        sent = run_bounded(
            "send",
            url,
            "-",
            *client_args(tls_pki, url),
            "--cert",
            str(stranger.cert),
            "--key",
            str(stranger.key),
            stdin=b"from a stranger",
        )
        assert sent.returncode == 1
        status, _, err = receiver.finish()
    assert status == 1
    assert err == (
        "transports recv: TLS: the client's certificate did not verify: unable to get local issuer "
        "certificate; --cafile FILE names the CAs that may sign it\n"
    )
    assert not target.exists() or target.read_bytes() == b""


# -- verification --------------------------------------------------------------------------------------


def test_unknown_ca_is_one_line_saying_what_to_do(tls_pki: PKI) -> None:
    with Background("serve", "tls://127.0.0.1:0", "--discard", "--once", *server_args(tls_pki)) as server:
        sent = run_bounded("send", server.url(), "-", stdin=b"secret")
        assert_one_line_error(sent, "certificate did not verify", "127.0.0.1", "--cafile FILE")
        server.finish()


def test_wrong_host_and_server_hostname(tls_pki: PKI) -> None:
    with Background(
        "serve", "tls://127.0.0.1:0", "--echo", "--max-connections", "2", *server_args(tls_pki, "other-host")
    ) as server:
        url = server.url()
        wrong = run_bounded("send", url, "-", "--cafile", str(tls_pki.ca_file), stdin=b"x")
        assert_one_line_error(wrong, "127.0.0.1", "--server-hostname NAME")
        named = run_bounded(
            "send",
            url,
            "-",
            "--cafile",
            str(tls_pki.ca_file),
            "--server-hostname",
            OTHER_HOST,
            stdin=b"named",
        )
        assert named.returncode == 0, named.stderr
        assert named.stdout == b"named"
        server.finish()


def test_expired_certificate(tls_pki: PKI) -> None:
    with Background(
        "serve", "tls://127.0.0.1:0", "--discard", "--once", *server_args(tls_pki, "expired")
    ) as server:
        sent = run_bounded("send", server.url(), "-", "--cafile", str(tls_pki.ca_file), stdin=b"x")
        assert_one_line_error(sent, "expired")
        server.finish()


def test_insecure_warns_on_every_run(tls_pki: PKI) -> None:
    with Background(
        "serve", "tls://127.0.0.1:0", "--echo", "--max-connections", "2", *server_args(tls_pki, "stranger")
    ) as server:
        url = server.url()
        for text in (b"first", b"second"):
            sent = run_bounded("send", url, "-", "--insecure", stdin=text)
            assert sent.returncode == 0, sent.stderr
            assert sent.stdout == text
            warning = sent.stderr.decode()
            assert warning.startswith("transports send: WARNING: --insecure"), warning
            assert "NOT verified" in warning
        status, _, err = server.finish()
    assert status == 0, err


# -- command lines that cannot work, files that cannot be used ------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ("serve", "tls://127.0.0.1:0", "--echo"),
            ("needs this server's certificate", "--cert FILE --key FILE"),
        ),
        (("recv", "tls://127.0.0.1:0"), ("needs this server's certificate",)),
        (
            ("send", "tcp://127.0.0.1:9", "--cafile", "ca.pem"),
            ("--cafile applies to TLS URLs only", "tls://"),
        ),
        (("serve", "tls://127.0.0.1:0", "--echo", "--insecure"), ("unrecognized arguments: --insecure",)),
        (("send", "tls://127.0.0.1:9", "--insecure", "--cafile", "ca.pem"), ("give one of them",)),
        (("send", "tls+unix:///run/x.sock"), ("--server-hostname NAME",)),
        (("send", "tls://127.0.0.1", "--insecure"), ("missing port",)),
        (("send", "tls://127.0.0.1:9", "--key", "k.pem"), ("--key needs --cert",)),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_one_line_error(run_bounded(*args), *words, status=2)


def test_unusable_files_exit_1(tmp_path: Path, tls_pki: PKI) -> None:
    missing = str(tmp_path / "missing.pem")
    server = tls_pki.files("server")
    client = tls_pki.files("client")
    listen = ("serve", "tls://127.0.0.1:0", "--echo")
    assert_one_line_error(run_bounded(*listen, "--cert", missing), "cannot read --cert", "missing.pem")
    assert_one_line_error(
        run_bounded(*listen, "--cert", str(tls_pki.ca_file)), "not a PEM certificate and key", "ca.pem"
    )
    assert_one_line_error(
        run_bounded(*listen, "--cert", str(server.cert), "--key", str(client.key)), "key does not match"
    )
    assert_one_line_error(
        run_bounded("send", "tls://127.0.0.1:9", "--cafile", str(server.key), stdin=b""),
        "--cafile",
        "holds no PEM certificate",
    )
