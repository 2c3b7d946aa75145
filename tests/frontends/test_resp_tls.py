"""TLS on the RESP port with real clients: redis-cli --tls and redis-py ssl=True.

Certificates come from replicator/certs.py (a CA of the test's own, a stranger CA, an
expired certificate). The server runs in-process on a FakeNode; blocking clients run in
worker threads.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
from functools import partial
from pathlib import Path

import pytest
import redis
import trio
from cryptography.hazmat.primitives import serialization
from redis.backoff import NoBackoff
from redis.retry import Retry

from frontends.resp.server import RespServer
from replicator.certs import Issued, make_ca, make_cert, write_issued
from replicator.tls import ReloadableContext, TlsError, TlsSettings, server_context

needs_cli = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")


class Pki:
    """A CA, the server's certificate, a client's, a stranger's (self-signed CA), files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = make_ca("test CA")
        self.ca_file = self.write("ca.crt", self.ca.cert_pem)
        self.server = self.issue("server", make_cert(self.ca, "server"))
        self.client = self.issue("client", make_cert(self.ca, "client"))
        stranger_ca = make_ca("stranger CA")
        self.stranger = self.issue("stranger", make_cert(stranger_ca, "client"))
        self.expired = self.issue("expired", make_cert(self.ca, "client", expired=True))

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def issue(self, name: str, issued: Issued) -> tuple[Path, Path]:
        cert, key = self.root / f"{name}.crt", self.root / f"{name}.key"
        write_issued(issued, cert, key)
        return cert, key

    def settings(self, auth_clients: str = "no", **kw) -> TlsSettings:
        cert, key = self.server
        return TlsSettings(
            port=0, cert_file=cert, key_file=key, ca_cert_file=self.ca_file, auth_clients=auth_clients, **kw
        )


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


async def start(nursery, node, settings: TlsSettings):
    """(server, plain port, TLS port): both on free ports."""
    server = RespServer(node, tls=ReloadableContext(settings, server_context), tls_port=settings.port)
    port = await nursery.start(partial(server.serve, "127.0.0.1", 0))
    return server, port, server.tls_port


def tls_client(port: int, pki: Pki, cert: tuple[Path, Path] | None = None, **kw) -> redis.Redis:
    extra = {} if cert is None else {"ssl_certfile": str(cert[0]), "ssl_keyfile": str(cert[1])}
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=str(pki.ca_file),
        socket_timeout=10,
        retry=Retry(NoBackoff(), 0),  # a refusal is the answer, not a reason to try again
        **extra,
        **kw,
    )


async def in_thread(fn, *args):
    return await trio.to_thread.run_sync(fn, *args)


async def cli(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
    done = await trio.run_process(
        ["redis-cli", *args], stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
    )
    return done.returncode, (done.stdout + done.stderr).decode()


async def test_redis_py_over_tls_beside_the_plain_port(nursery, node, pki):
    server, plain, tls_port = await start(nursery, node, pki.settings())
    assert plain != tls_port
    c = tls_client(tls_port, pki)
    assert await in_thread(c.set, "k", "v" * 100_000)
    assert await in_thread(c.get, "k") == b"v" * 100_000
    pipe = c.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"p{i}", i)
        pipe.get(f"p{i}")
    assert (await in_thread(pipe.execute))[1::2] == [str(i).encode() for i in range(500)]
    plain_client = redis.Redis(host="127.0.0.1", port=plain, socket_timeout=10)
    assert await in_thread(plain_client.get, "p7") == b"7"
    assert await in_thread(c.config_get, "tls-port") == {"tls-port": str(tls_port)}
    assert await in_thread(c.config_get, "tls-auth-clients") == {"tls-auth-clients": "no"}
    # a plain client on the TLS port gets no reply and is dropped, the server lives on
    raw = redis.Redis(host="127.0.0.1", port=tls_port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.ConnectionError):
        await in_thread(raw.ping)
    assert await in_thread(c.ping)
    c.close()


async def test_tls_only_when_tls_port_is_the_resp_port(nursery, node, pki):
    """TLS only, as the config says it (tls_port equal to resp's port; Redis' `port 0`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        fixed = s.getsockname()[1]
    settings = pki.settings()
    server = tls_server(node, settings, fixed)
    port = await nursery.start(partial(server.serve, "127.0.0.1", fixed))
    assert port == fixed == server.tls_port
    assert await in_thread(tls_client(fixed, pki).ping)


def tls_server(node, settings, tls_port):
    return RespServer(node, tls=ReloadableContext(settings, server_context), tls_port=tls_port)


@needs_cli
async def test_redis_cli_tls(nursery, node, pki):
    _, _, tls_port = await start(nursery, node, pki.settings())
    code, out = await cli("--tls", "--cacert", str(pki.ca_file), "-p", str(tls_port), "PING")
    assert (code, out.strip()) == (0, "PONG")
    code, out = await cli("--tls", "--cacert", str(pki.ca_file), "-p", str(tls_port), "SET", "a", "b")
    assert out.strip() == "OK"
    code, out = await cli("--tls", "--cacert", str(pki.ca_file), "-p", str(tls_port), "GET", "a")
    assert out.strip() == "b"
    # redis-cli checks the server against the CA it is given: a stranger's CA refuses us
    stranger_ca = pki.write("stranger-ca.crt", make_ca("other").cert_pem)
    code, out = await cli("--tls", "--cacert", str(stranger_ca), "-p", str(tls_port), "PING")
    assert "PONG" not in out and "SSL" in out


@needs_cli
async def test_client_certificates_required(nursery, node, pki):
    """tls_auth_clients yes: a client with a certificate from the CA is served; one without, one with a
    stranger's self-signed-CA certificate and one with an expired certificate are refused."""
    _, _, tls_port = await start(nursery, node, pki.settings("yes"))
    base = ["--tls", "--cacert", str(pki.ca_file), "-p", str(tls_port)]
    code, out = await cli(*base, "--cert", str(pki.client[0]), "--key", str(pki.client[1]), "PING")
    assert out.strip() == "PONG"
    for who in (None, pki.stranger, pki.expired):
        extra = [] if who is None else ["--cert", str(who[0]), "--key", str(who[1])]
        code, out = await cli(*base, *extra, "PING")
        assert "PONG" not in out, (who, out)
    assert await in_thread(tls_client(tls_port, pki, pki.client).ping)
    for who in (None, pki.stranger, pki.expired):
        with pytest.raises(redis.ConnectionError):
            await in_thread(tls_client(tls_port, pki, who).ping)


async def test_client_certificates_optional(nursery, node, pki):
    _, _, tls_port = await start(nursery, node, pki.settings("optional"))
    assert await in_thread(tls_client(tls_port, pki).ping)  # none shown: served
    assert await in_thread(tls_client(tls_port, pki, pki.client).ping)
    with pytest.raises(redis.ConnectionError):  # one shown must be good
        await in_thread(tls_client(tls_port, pki, pki.stranger).ping)


def served_certificate(port: int, ca_file: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


async def test_config_set_reloads_the_certificate_for_new_connections(nursery, node, pki):
    """Rotation without downtime: open connections keep working, new ones get the new certificate.
    A CONFIG SET that cannot load (a certificate without its key, a missing file) answers Redis'
    error and changes nothing."""
    server, _, tls_port = await start(nursery, node, pki.settings())
    first = await in_thread(served_certificate, tls_port, pki.ca_file)
    c = tls_client(tls_port, pki)
    renewed = pki.issue("renewed", make_cert(pki.ca, "server renewed"))
    with pytest.raises(redis.ResponseError, match="Unable to update TLS configuration. Check server logs."):
        await in_thread(c.config_set, "tls-cert-file", str(renewed[0]))  # its key is another file
    with pytest.raises(redis.ResponseError, match="Unable to update TLS configuration"):
        await in_thread(c.config_set, "tls-cert-file", str(pki.root / "missing.crt"))
    assert await in_thread(c.config_get, "tls-cert-file") == {"tls-cert-file": str(pki.server[0])}
    assert await in_thread(served_certificate, tls_port, pki.ca_file) == first
    # both at once (Redis' CONFIG SET takes several pairs): the new certificate for new connections
    pairs = ("tls-cert-file", str(renewed[0]), "tls-key-file", str(renewed[1]))
    assert await in_thread(partial(c.execute_command, "CONFIG", "SET", *pairs))
    assert await in_thread(served_certificate, tls_port, pki.ca_file) != first
    assert await in_thread(c.ping)  # the open connection lives on
    assert await in_thread(tls_client(tls_port, pki).ping)
    # tls-auth-clients takes effect for new connections too
    assert await in_thread(c.config_set, "tls-auth-clients", "yes")
    with pytest.raises(redis.ConnectionError):
        await in_thread(tls_client(tls_port, pki).ping)
    assert await in_thread(tls_client(tls_port, pki, pki.client).ping)
    assert await in_thread(c.ping)


async def test_pubsub_and_blocking_over_tls(nursery, node, pki):
    _, _, tls_port = await start(nursery, node, pki.settings())
    sub = tls_client(tls_port, pki).pubsub()
    await in_thread(sub.subscribe, "ch")
    assert (await in_thread(partial(sub.get_message, timeout=5)))["type"] == "subscribe"
    pub = tls_client(tls_port, pki)
    assert await in_thread(pub.publish, "ch", "hello") == 1
    message = await in_thread(partial(sub.get_message, timeout=5))
    assert message["data"] == b"hello"
    sub.close()


def test_settings_refused_with_a_clear_reason(pki, tmp_path):
    with pytest.raises(TlsError, match=f"tls_cert_file {tmp_path / 'nope.crt'}: no such file"):
        server_context(TlsSettings(port=1, cert_file=tmp_path / "nope.crt", key_file=pki.server[1], auth_clients="no"))
    with pytest.raises(TlsError, match=f"tls_key_file {tmp_path / 'nope.key'}: no such file"):
        server_context(TlsSettings(port=1, cert_file=pki.server[0], key_file=tmp_path / "nope.key", auth_clients="no"))
    with pytest.raises(TlsError, match=f"tls_ca_cert_file {tmp_path / 'nope.ca'}: no such file"):
        server_context(
            TlsSettings(port=1, cert_file=pki.server[0], key_file=pki.server[1], ca_cert_file=tmp_path / "nope.ca")
        )
    with pytest.raises(TlsError, match="tls_ca_cert_file .*: not PEM certificates"):
        server_context(TlsSettings(port=1, cert_file=pki.server[0], key_file=pki.server[1], ca_cert_file=pki.server[1]))
    with pytest.raises(TlsError, match="not a matching PEM"):
        server_context(TlsSettings(port=1, cert_file=pki.server[0], key_file=pki.client[1], auth_clients="no"))
    key = serialization.load_pem_private_key(pki.server[1].read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )
    )
    with pytest.raises(TlsError, match="the key is encrypted"):  # never a prompt on the terminal
        server_context(TlsSettings(port=1, cert_file=pki.server[0], key_file=encrypted, auth_clients="no"))
    with pytest.raises(TlsError, match="tls_ciphers"):
        server_context(pki.settings(ciphers="NO-SUCH-CIPHER"))
    with pytest.raises(TlsError, match="TLS 1.3"):
        server_context(pki.settings(ciphersuites="TLS_AES_128_GCM_SHA256"))
    with pytest.raises(TlsError, match="consecutive"):
        server_context(pki.settings(protocols="TLSv1 TLSv1.3"))
    ctx = server_context(pki.settings(protocols="tlsv1.3"))
    assert ctx.minimum_version == ctx.maximum_version == ssl.TLSVersion.TLSv1_3


async def test_blocking_pop_over_tls(nursery, node, pki):
    """BLPOP waits, with a command pipelined behind it kept for later (read during the wait: the
    SSLStream's stash), is woken by a push from another client; a blocked client that hangs up
    is noticed and leaves no waiter behind."""
    server, _, tls_port = await start(nursery, node, pki.settings())
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    sock = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    tls = await in_thread(partial(ctx.wrap_socket, sock, server_hostname="127.0.0.1"))
    tls.sendall(b"BLPOP q 0\r\n")
    pusher = tls_client(tls_port, pki)

    async def blocked() -> int:
        return int((await in_thread(pusher.info, "clients"))["blocked_clients"])

    with trio.fail_after(20):
        while await blocked() != 1:
            await trio.sleep(0.05)
    tls.sendall(b"ECHO after\r\n")  # sent during the wait: read, kept, answered after it
    await trio.sleep(0.2)
    assert await blocked() == 1
    assert await in_thread(pusher.rpush, "q", "job") == 1
    expected = b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n$5\r\nafter\r\n"
    got = b""
    while len(got) < len(expected):
        got += await in_thread(tls.recv, 4096)
    assert got == expected
    tls.sendall(b"BLPOP q2 0\r\n")
    with trio.fail_after(20):
        while await blocked() != 1:
            await trio.sleep(0.05)
    tls.close()  # close_notify, then FIN: the waiter goes
    with trio.fail_after(20):
        while await blocked() != 0:
            await trio.sleep(0.05)
    assert await in_thread(pusher.rpush, "q2", "kept") == 1
    assert await in_thread(pusher.lrange, "q2", 0, -1) == [b"kept"]


async def test_handshakes_in_progress_are_bounded(nursery, node, pki):
    """Connections that never finish their handshake hold at most tls_handshakes_max slots; one
    more is closed at once (and counted), and a slot frees when a stalled one goes."""
    server, _, tls_port = await start(nursery, node, pki.settings())
    server.tls_handshakes_max = 1
    stalled = await trio.open_tcp_stream("127.0.0.1", tls_port)  # says nothing
    with trio.fail_after(10):
        while server.tls_handshakes != 1:
            await trio.sleep(0.01)
    with pytest.raises(redis.ConnectionError):
        await in_thread(tls_client(tls_port, pki).ping)
    assert server.gate.stats["rejected_connections"] >= 1
    await stalled.aclose()
    with trio.fail_after(10):
        while server.tls_handshakes:
            await trio.sleep(0.01)
    assert await in_thread(tls_client(tls_port, pki).ping)


@pytest.mark.parametrize("tls", [False, True])
async def test_a_command_sent_during_a_blocking_wait_is_answered_after_it(nursery, node, pki, tls):
    """Regression (plain and TLS): ECHO sent while BLPOP waits is read during the wait; once the
    pop is answered, ECHO is answered too, without the client sending anything more."""
    _, plain_port, tls_port = await start(nursery, node, pki.settings())
    sock = socket.create_connection(("127.0.0.1", tls_port if tls else plain_port), timeout=10)
    if tls:
        ctx = ssl.create_default_context(cafile=str(pki.ca_file))
        sock = await in_thread(partial(ctx.wrap_socket, sock, server_hostname="127.0.0.1"))
    other = tls_client(tls_port, pki)

    async def blocked() -> int:
        return int((await in_thread(other.info, "clients"))["blocked_clients"])

    sock.sendall(b"BLPOP q 0\r\n")
    with trio.fail_after(20):
        while await blocked() != 1:
            await trio.sleep(0.05)
    sock.sendall(b"ECHO after\r\n")
    await trio.sleep(0.2)
    assert await in_thread(other.rpush, "q", "job") == 1
    expected = b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n$5\r\nafter\r\n"
    got = b""
    while len(got) < len(expected):
        got += await in_thread(sock.recv, 4096)
    assert got == expected
    sock.close()


async def test_monitor_over_tls_is_pushed_what_others_send(nursery, node, pki):
    """A client that is sent what it did not ask for (MONITOR) waits for input and pushes at once
    through the SSLStream."""
    _, _, tls_port = await start(nursery, node, pki.settings())
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    sock = socket.create_connection(("127.0.0.1", tls_port), timeout=10)
    sock = await in_thread(partial(ctx.wrap_socket, sock, server_hostname="127.0.0.1"))
    sock.sendall(b"MONITOR\r\n")
    assert await in_thread(sock.recv, 4096) == b"+OK\r\n"
    assert await in_thread(tls_client(tls_port, pki).set, "watched", "1")
    got = b""
    while b'"watched"' not in got:
        got += await in_thread(sock.recv, 4096)
    assert b'"SET" "watched" "1"' in got
    sock.close()


async def test_refusals_are_logged_once_per_host(nursery, node, pki, caplog):
    """Plain clients knocking on the TLS port again and again: one line, naming why."""
    _, _, tls_port = await start(nursery, node, pki.settings())
    caplog.set_level(logging.INFO, logger="frontends.resp.server")
    for _ in range(5):
        raw = redis.Redis(host="127.0.0.1", port=tls_port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.ConnectionError):
            await in_thread(raw.ping)
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and "TLS client 127.0.0.1:" in lines[0], lines  # OpenSSL says why: "wrong version number"
