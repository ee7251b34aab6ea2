"""TLS certificate verification and mutual TLS: what each end raises, and what its message says.

Both ends are ours, over a Unix socketpair, with the trustme certificates
of tests/tls_certs.py: a wrong host, an expired certificate and an unknown
CA each make the client raise :class:`~transports.tls.TLSCertificateError`
naming the host and the reason; a server that asks for a client
certificate verifies it, and refuses a client without one.
"""

from __future__ import annotations

import ssl

import attrs
import pytest

from test_tls import TIMEOUT, in_thread, tcp_plain, unix_plain
from tls_certs import OTHER_HOST, PKI, tls_pki
from transports.tls import TLSCertificateError, TLSError, TLSHandshakeError, TLSTransport

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here


@attrs.frozen
class Outcome:
    """What the handshake gave each end: a transport, or the error it raised."""

    client: TLSTransport | BaseException
    server: TLSTransport | BaseException

    def close(self) -> None:
        for end in (self.client, self.server):
            if isinstance(end, TLSTransport):
                end.close()


def handshake(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, server_hostname: str = "localhost"
) -> Outcome:
    """Run the handshake on both ends of a socketpair; each end's result or error, both ends closed on error."""
    a, b = unix_plain()
    a.timeout = b.timeout = TIMEOUT

    def serve() -> TLSTransport | BaseException:
        try:
            return TLSTransport.wrap(b, server_context, server_side=True)
        except TLSError as err:
            return err

    server = in_thread(serve)
    client: TLSTransport | BaseException
    try:
        client = TLSTransport.wrap(a, client_context, server_hostname=server_hostname)
    except TLSError as err:
        client = err
    return Outcome(client, server())


def client_error(outcome: Outcome) -> TLSCertificateError:
    outcome.close()
    assert isinstance(outcome.client, TLSCertificateError), outcome
    assert isinstance(outcome.server, BaseException), "the server's handshake cannot succeed"
    return outcome.client


# -- the client checks the server ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "host", "reason", "hint"),
    [
        pytest.param("server", "wrong.example", "mismatch", "server_hostname=", id="wrong-host"),
        pytest.param(
            "other_host", "localhost", "mismatch", "server_hostname=", id="certificate-of-another-host"
        ),
        pytest.param("expired", "localhost", "expired", "renew the certificate", id="expired"),
        pytest.param("stranger", "localhost", "issuer", "load_verify_locations", id="unknown-ca"),
    ],
)
def test_refusal_names_the_host_and_the_reason(
    tls_pki: PKI, leaf: str, host: str, reason: str, hint: str
) -> None:
    server_context = tls_pki.server_context(getattr(tls_pki, leaf))
    error = client_error(handshake(server_context, tls_pki.client_context(), host))
    assert error.host == host
    assert error.verify_message is not None
    assert reason in error.verify_message.lower()
    assert host in str(error)
    assert error.verify_message in str(error)
    assert error.reason == "CERTIFICATE_VERIFY_FAILED"
    assert hint in str(error)  # the hint: what to do about this reason


def test_certificate_of_another_host_is_good_for_that_host(tls_pki: PKI) -> None:
    outcome = handshake(tls_pki.server_context(tls_pki.other_host), tls_pki.client_context(), OTHER_HOST)
    outcome.close()
    assert isinstance(outcome.client, TLSTransport), outcome


def test_unknown_ca_from_the_system_store(tls_pki: PKI) -> None:
    """The default context (the system's CAs) does not know the test CA."""
    error = client_error(handshake(tls_pki.server_context(), ssl.create_default_context()))
    assert error.verify_message is not None
    assert "issuer" in error.verify_message


def test_connect_verifies_by_default(tls_pki: PKI) -> None:
    """TLSTransport.connect without a context uses the system's CAs and checks the host it was given."""
    from test_tls import serve_once

    port, join = serve_once(tls_pki.server_context(), b"never read")
    with pytest.raises(TLSCertificateError) as caught:
        TLSTransport.connect("127.0.0.1", port, timeout=TIMEOUT)
    join()
    assert caught.value.host == "127.0.0.1"
    assert "127.0.0.1" in str(caught.value)


@pytest.mark.parametrize(
    ("leaf", "alert"),
    [("expired", "CERTIFICATE_EXPIRED"), ("stranger", "UNKNOWN_CA"), ("other_host", "BAD_CERTIFICATE")],
)
def test_the_server_learns_why_the_client_refused(tls_pki: PKI, leaf: str, alert: str) -> None:
    """The client's alert goes out before it closes: the server's error names it, with a hint."""
    outcome = handshake(tls_pki.server_context(getattr(tls_pki, leaf)), tls_pki.client_context())
    outcome.close()
    assert isinstance(outcome.client, TLSCertificateError), outcome.client
    assert isinstance(outcome.server, TLSHandshakeError), outcome.server
    assert outcome.server.reason is not None
    assert alert in outcome.server.reason
    assert alert in str(outcome.server)


# -- mutual TLS: the server checks the client ---------------------------------------------------------


def test_mutual_tls(tls_pki: PKI) -> None:
    client_plain, server_plain = tcp_plain()
    client_plain.timeout = server_plain.timeout = TIMEOUT
    serving = in_thread(
        lambda: TLSTransport.wrap(
            server_plain, tls_pki.server_context(require_client_cert=True), server_side=True
        )
    )
    tls = TLSTransport.wrap(
        client_plain, tls_pki.client_context(cert=tls_pki.client), server_hostname="localhost"
    )
    server = serving()
    with tls, server:
        subject = dict(x[0] for x in server.getpeercert()["subject"])
        assert subject["commonName"] == "client.typed-transports.test"
        assert isinstance(server.getpeercert(binary_form=True), bytes)
        tls.send_all(b"who am I")
        assert server.recv_exactly(8) == b"who am I"
        server.send_all(b"known")
        assert tls.recv_exactly(5) == b"known"


def test_mutual_tls_refuses_a_client_without_a_certificate(tls_pki: PKI) -> None:
    outcome = handshake(tls_pki.server_context(require_client_cert=True), tls_pki.client_context())
    try:
        assert isinstance(outcome.server, TLSHandshakeError), outcome.server
        assert outcome.server.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"
        assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in str(outcome.server)
        # TLS 1.3: the client's handshake ends before the server looks at its certificate;
        # the refusal arrives on its first read.
        if isinstance(outcome.client, TLSTransport):
            with pytest.raises(TLSError):
                outcome.client.recv(10)
    finally:
        outcome.close()


def test_the_client_learns_its_certificate_was_required(tls_pki: PKI) -> None:
    outcome = handshake(tls_pki.server_context(require_client_cert=True), tls_pki.client_context())
    try:
        client = outcome.client
        if isinstance(client, TLSTransport):
            with pytest.raises(TLSError) as caught:
                client.recv(10)
            error: BaseException = caught.value
        else:
            error = client
        assert isinstance(error, TLSError)
        assert error.reason is not None
        assert "CERTIFICATE_REQUIRED" in error.reason
        assert "load_cert_chain" in str(error)  # the hint: what to do
    finally:
        outcome.close()


def test_mutual_tls_refuses_a_client_certificate_from_an_unknown_ca(tls_pki: PKI) -> None:
    outcome = handshake(
        tls_pki.server_context(require_client_cert=True), tls_pki.client_context(cert=tls_pki.stranger)
    )
    outcome.close()
    assert isinstance(outcome.server, TLSCertificateError), outcome.server
    assert outcome.server.verify_message is not None
    assert "issuer" in outcome.server.verify_message
    assert outcome.server.verify_message in str(outcome.server)
