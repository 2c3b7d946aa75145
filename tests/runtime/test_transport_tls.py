"""Mutual TLS between TcpTransports (tls_cluster): traffic both ways, large frames; and the peers
refused, each with one clear log line: a certificate from another CA (a stranger's self-signed
CA), an expired one, one that names another member, and a dialer without TLS."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from replicator.certs import Issued, make_ca, make_cert, make_node_cert, write_issued
from replicator.codec import Codec
from replicator.config import generate_secret
from replicator.runtime.messages import MESSAGE_TYPES, ForwardRequest
from replicator.runtime.transport import TcpTransport
from replicator.tls import ReloadableContext, TlsSettings, member_ids, peer_contexts
from tests.e2e.harness import free_ports

codec = Codec(MESSAGE_TYPES)
SECRET = generate_secret().encode()


class Certs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = make_ca("cluster CA")
        self.ca_file = root / "ca.crt"
        self.ca_file.write_bytes(self.ca.cert_pem)

    def tls(self, name: str, issued: Issued) -> ReloadableContext:
        cert, key = self.root / f"{name}.crt", self.root / f"{name}.key"
        write_issued(issued, cert, key)
        settings = TlsSettings(cert_file=cert, key_file=key, ca_cert_file=self.ca_file, cluster=True)
        return ReloadableContext(settings, peer_contexts)


@pytest.fixture
def certs(tmp_path) -> Certs:
    return Certs(tmp_path)


def make(node_id, ports, inbox, tls):
    return TcpTransport(
        node_id=node_id,
        cluster_id="c",
        protocol="raft",
        codec=codec,
        peers={1: ("127.0.0.1", ports[0]), 2: ("127.0.0.1", ports[1])},
        deliver=inbox.append,
        secret=SECRET,
        tls=tls,
        handshake_timeout_s=3,
    )


async def wait_until(predicate, timeout_s: float = 10):
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.01)


async def test_traffic_both_ways_over_mutual_tls(certs):
    ports = free_ports(2)
    inbox1, inbox2 = [], []
    t1 = make(1, ports, inbox1, certs.tls("n1", make_node_cert(certs.ca, 1)))
    t2 = make(2, ports, inbox2, certs.tls("n2", make_node_cert(certs.ca, 2)))
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        big = b"x" * (3 << 20)  # a snapshot chunk's size: many TLS records
        for i in range(500):
            t1.send(ForwardRequest(1, 2, i, ("kv",), (big if i == 250 else b"v%d" % i,)))
            t2.send(ForwardRequest(2, 1, i, ("kv",), (b"w",)))
        await wait_until(lambda: len(inbox2) == 500 and len(inbox1) == 500)
        assert [m.req_id for m in inbox2] == list(range(500)) and inbox2[250].commands == (big,)
        assert t1.connected == {2} and t2.connected == {1}
        assert t1.rejected_connections == t2.rejected_connections == 0
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "intruder, acceptor_says, dialer_says",
    [
        # a certificate from a stranger's self-signed CA: the TLS handshake fails both ways
        (
            "stranger",
            "TLS: certificate refused: unable to get local issuer certificate",
            "TLS: certificate refused: unable to get local issuer certificate",
        ),
        (
            "expired",
            "TLS: certificate refused: certificate has expired",
            "TLS: certificate refused: certificate has expired",
        ),
        # a valid certificate of the cluster's CA, but for node 3: it cannot be node 2
        (
            "wrong id",
            "TLS: claims to be node 2 but its certificate names node 3",
            "TLS: its certificate names node 3, not node 2",
        ),
    ],
)
async def test_a_peer_with_a_bad_certificate_is_refused_with_one_clear_line(
    certs, caplog, intruder, acceptor_says, dialer_says
):
    ports = free_ports(2)
    inbox1, inbox2 = [], []
    bad = {
        "stranger": make_node_cert(make_ca("stranger CA"), 2),
        "expired": make_node_cert(certs.ca, 2, expired=True),
        "wrong id": make_node_cert(certs.ca, 3),
    }[intruder]
    t1 = make(1, ports, inbox1, certs.tls("n1", make_node_cert(certs.ca, 1)))
    t2 = make(2, ports, inbox2, certs.tls("n2", bad))
    caplog.set_level(logging.INFO, logger="replicator.runtime.transport")
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        for i in range(20):
            t2.send(ForwardRequest(2, 1, i, ("kv",), (b"",)))
            t1.send(ForwardRequest(1, 2, i, ("kv",), (b"",)))

        def logged(text: str) -> list[str]:
            return [r.getMessage() for r in caplog.records if text in r.getMessage()]

        # node 1 refuses node 2's connections, and will not link to node 2: one line each (the
        # other lines are node 2's, which sees node 1 hang up on it)
        await wait_until(lambda: t1.rejected_connections >= 1 and logged("cannot link to node 2"))
        await trio.sleep(0.5)  # more attempts meanwhile: still one line each (per host / peer per minute)
        refusals = logged("refusing peer connection from")
        assert [acceptor_says in line for line in refusals].count(True) == 1, refusals
        assert [dialer_says in line for line in logged("cannot link to node 2")] == [True]
        assert inbox1 == [] and t1.connected == set()
        nursery.cancel_scope.cancel()
    assert not any("PRIVATE KEY" in r.getMessage() for r in caplog.records)


async def test_a_peer_without_tls_is_refused(certs, caplog):
    """A member without tls_cluster among members with it: neither side links. Its dialer waits for
    a challenge the TLS side never sends (refused when the handshake time is up); the TLS side's
    dialer speaks TLS to it, which it refuses as not a handshake."""
    ports = free_ports(2)
    inbox1, inbox2 = [], []
    t1 = make(1, ports, inbox1, certs.tls("n1", make_node_cert(certs.ca, 1)))
    t2 = make(2, ports, inbox2, None)
    caplog.set_level(logging.INFO, logger="replicator.runtime.transport")
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        t2.send(ForwardRequest(2, 1, 0, ("kv",), (b"",)))
        t1.send(ForwardRequest(1, 2, 0, ("kv",), (b"",)))
        await wait_until(lambda: t1.rejected["timeout"] >= 1 and t2.rejected["handshake"] >= 1)
        assert inbox1 == inbox2 == [] and t1.connected == t2.connected == set()
        nursery.cancel_scope.cancel()


def test_member_ids_from_san_uri_else_common_name():
    uri = {"subject": ((("commonName", "replicator-node-9"),),), "subjectAltName": (("URI", "replicator-node:4"),)}
    assert member_ids(uri) == {4}  # the SAN URI wins over the CN
    assert member_ids({"subject": ((("commonName", "replicator-node-7"),),)}) == {7}
    for junk in ("replicator-node-0", "replicator-node-07", "replicator-node-x", "xreplicator-node-1", ""):
        assert member_ids({"subject": ((("commonName", junk),),)}) == set(), junk
    assert member_ids(None) == set() and member_ids({}) == set()
    other = make_cert(make_ca(), "someone", uris=("https://example.com",))
    assert other.cert_pem.startswith(b"-----BEGIN CERTIFICATE")


async def test_a_reloaded_certificate_is_used_by_the_next_connections(certs, caplog):
    """Node 2 starts with a certificate naming another member and is refused; its files are
    fixed and reloaded (what SIGHUP does): its next dial links, without a restart."""
    ports = free_ports(2)
    inbox1, inbox2 = [], []
    t1 = make(1, ports, inbox1, certs.tls("n1", make_node_cert(certs.ca, 1)))
    tls2 = certs.tls("n2", make_node_cert(certs.ca, 3))
    t2 = make(2, ports, inbox2, tls2)
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        t2.send(ForwardRequest(2, 1, 0, ("kv",), (b"",)))
        await wait_until(lambda: t1.rejected_connections >= 1)
        assert inbox1 == []
        write_issued(make_node_cert(certs.ca, 2), tls2.settings.cert_file, tls2.settings.key_file)
        tls2.reload()

        def delivered() -> bool:
            t2.send(ForwardRequest(2, 1, 1, ("kv",), (b"",)))
            return bool(inbox1)

        await wait_until(delivered)
        assert 1 in t2.connected
        nursery.cancel_scope.cancel()
