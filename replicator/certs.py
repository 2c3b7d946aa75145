"""A local certificate authority and node certificates (the `cryptography` package).

`replicator cluster --tls` writes, under DATA_DIR/tls/: ca.crt (the CA certificate,
what clients trust: `redis-cli --tls --cacert data/tls/ca.crt`), ca.key, and per node
nodeN.crt and nodeN.key. Private keys are written 0600 from the moment they exist. A
node's certificate names the node for its peers (tls.member_name: CN and a SAN URI
`replicator-node:<id>`) and its address for clients (SAN 127.0.0.1, ::1 and localhost),
and serves as both server and client certificate (mutual TLS between peers).

Keys are ECDSA P-256: small and fast to make (a test makes dozens). Tests use
make_ca / make_cert directly for strangers, expired and wrongly named certificates.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from replicator.tls import member_name, member_uri

CA_DAYS = 3650
CERT_DAYS = 825  # what browsers' CAs may issue at most; ample for a local cluster


@dataclass(frozen=True, slots=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(common_name: str = "replicator local CA", days: int = CA_DAYS) -> Issued:
    """A self-signed CA certificate and its key (a 'stranger' too: any other CA than the cluster's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def make_cert(
    ca: Issued,
    common_name: str,
    *,
    uris: tuple[str, ...] = (),
    hosts: tuple[str, ...] = ("127.0.0.1", "::1", "localhost"),
    days: int = CERT_DAYS,
    expired: bool = False,
) -> Issued:
    """A certificate signed by `ca` for server and client use. expired: valid for a day, ten days ago."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(days=10) if expired else now - datetime.timedelta(minutes=5)
    end = start + datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=days)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def make_node_cert(ca: Issued, node_id: int, **options) -> Issued:
    """A node's certificate: CN replicator-node-<id> and SAN URI replicator-node:<id> (tls.member_name)."""
    return make_cert(ca, member_name(node_id), uris=(member_uri(node_id),), **options)


def write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only, from the moment the file exists (replaced if present)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_issued(issued: Issued, cert_path: Path, key_path: Path) -> None:
    cert_path.write_bytes(issued.cert_pem)
    write_private(key_path, issued.key_pem)


def write_cluster_tls(tls_dir: Path, node_ids: list[int]) -> dict[int, tuple[Path, Path]]:
    """A CA and one certificate per node under tls_dir (kept if there: a restarted cluster keeps its
    certificates); {node id: (cert path, key path)}. The CA's certificate is tls_dir/ca.crt."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    ca_crt, ca_key = tls_dir / "ca.crt", tls_dir / "ca.key"
    if ca_crt.exists() and ca_key.exists():
        ca = Issued(ca_crt.read_bytes(), ca_key.read_bytes())
    else:
        ca = make_ca()
        write_issued(ca, ca_crt, ca_key)
    paths = {}
    for node_id in node_ids:
        crt, key = tls_dir / f"node{node_id}.crt", tls_dir / f"node{node_id}.key"
        if not (crt.exists() and key.exists()):
            write_issued(make_node_cert(ca, node_id), crt, key)
        paths[node_id] = (crt, key)
    return paths
