"""The tls_* keys of a node's config: parsed, checked with the key named, written back by to_toml."""

from __future__ import annotations

import tomllib

import pytest

from replicator import config as config_mod
from replicator.config import ConfigError

BASE = """
node_id = 1
data_dir = "d"
resp = "127.0.0.1:7001"
peer = "127.0.0.1:7101"
[[members]]
id = 1
peer = "127.0.0.1:7101"
resp = "127.0.0.1:7001"
"""


def load(tmp_path, extra: str):
    path = tmp_path / "n1.toml"
    path.write_text(extra + BASE)
    return config_mod.load(path)


def test_tls_keys_round_trip_with_paths_beside_the_config(tmp_path):
    cfg = load(
        tmp_path,
        'tls_port = 7301\ntls_cert_file = "n1.crt"\ntls_key_file = "/abs/n1.key"\ntls_ca_cert_file = "ca.crt"\n'
        'tls_auth_clients = "optional"\ntls_protocols = "TLSv1.3"\ntls_ciphers = "HIGH"\n',
    )
    tls = cfg.tls
    assert tls.port == 7301 and tls.auth_clients == "optional" and tls.protocols == "TLSv1.3"
    assert tls.cert_file == tmp_path / "n1.crt" and str(tls.key_file) == "/abs/n1.key"
    assert tls.ca_cert_file == tmp_path / "ca.crt" and tls.ciphers == "HIGH" and not tls.cluster
    again = config_mod.from_dict(tomllib.loads(config_mod.to_toml(cfg)))
    assert again.tls == tls
    # without the keys: no TLS, nothing written
    plain = config_mod.from_dict(tomllib.loads(BASE))
    assert not plain.tls.enabled and "tls" not in config_mod.to_toml(plain)


@pytest.mark.parametrize(
    "extra, message",
    [
        ("tls_port = 0\n", "tls_port: expected a port 1-65535"),
        ('tls_port = "7301"\n', "tls_port: expected a port"),
        ("tls_port = 7301\n", "needs tls_cert_file and tls_key_file"),
        ('tls_port = 7301\ntls_cert_file = "a"\ntls_key_file = "b"\n', "tls_ca_cert_file is needed"),
        ('tls_port = 7301\ntls_cert_file = "a"\ntls_key_file = "b"\ntls_auth_clients = "maybe"\n', "tls_auth_clients"),
        ('tls_cert_file = "a"\ntls_key_file = "b"\n', "without tls_port or tls_cluster"),
        ('tls_port = 7301\ntls_cert_file = ""\ntls_key_file = "b"\n', "tls_cert_file: expected a file path"),
        (
            'tls_port = 7301\ntls_cert_file = "a"\ntls_key_file = "b"\ntls_auth_clients = "no"\n'
            'tls_protocols = "SSLv3"\n',
            "unknown protocol 'sslv3'",
        ),
        ('tls_cluster = "yes"\n', "tls_cluster: expected true or false"),
        ('tls_cluster = true\ntls_cert_file = "a"\ntls_key_file = "b"\n', "peers' certificates"),
        ("tls_portt = 1\n", "unknown key"),
        ('tls_port = 7101\ntls_cert_file = "a"\ntls_key_file = "b"\ntls_auth_clients = "no"\n', "the peer port too"),
    ],
)
def test_bad_tls_settings_name_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message) as info:
        load(tmp_path, extra)
    assert str(tmp_path / "n1.toml") in str(info.value)


def test_tls_only_needs_no_plain_port_setting(tmp_path):
    """TLS only is tls_port equal to resp's port (Redis' `port 0` with `tls-port`)."""
    cfg = load(tmp_path, 'tls_port = 7001\ntls_cert_file = "a"\ntls_key_file = "b"\ntls_auth_clients = "no"\n')
    assert cfg.tls.port == cfg.resp[1]
