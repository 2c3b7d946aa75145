import tomllib
from pathlib import Path

import pytest

from replicator import config as config_mod
from replicator.cli import cluster_configs
from replicator.config import ConfigError, address_of


def test_cluster_configs_round_trip_through_toml(tmp_path):
    for cfg in cluster_configs(3, "raft", 7001, tmp_path, fsync=True):
        path = tmp_path / f"n{cfg.node_id}.toml"
        path.write_text(config_mod.to_toml(cfg))
        loaded = config_mod.load(path)
        assert loaded == cfg.__class__(**{**_fields(cfg), "data_dir": tmp_path / cfg.data_dir})
        assert loaded.voters == (1, 2, 3)
        assert loaded.resp == ("127.0.0.1", 7000 + cfg.node_id)


def test_max_entry_bytes_round_trips(tmp_path):
    path = tmp_path / "n1.toml"
    path.write_text("max_entry_bytes = 4194304\n" + GOOD)
    cfg = config_mod.load(path)
    assert cfg.max_entry_bytes == 4 << 20
    path.write_text(config_mod.to_toml(cfg))
    assert config_mod.load(path).max_entry_bytes == 4 << 20
    assert config_mod.from_dict(tomllib.loads(GOOD)).max_entry_bytes == config_mod.MAX_ENTRY_BYTES


def test_lease_reads_round_trip_and_the_lease_level_needs_them(tmp_path):
    path = tmp_path / "n1.toml"
    path.write_text('read_consistency = "lease"\n' + GOOD)
    with pytest.raises(ConfigError, match='read_consistency = "lease" needs lease_reads = true'):
        config_mod.load(path)
    path.write_text('read_consistency = "lease"\nlease_reads = true\n' + GOOD)
    cfg = config_mod.load(path)
    assert cfg.lease_reads and cfg.read_consistency == "lease"
    path.write_text(config_mod.to_toml(cfg))
    assert config_mod.load(path).lease_reads
    assert not config_mod.from_dict(tomllib.loads(GOOD)).lease_reads


def _fields(cfg):
    return {name: getattr(cfg, name) for name in cfg.__slots__}


GOOD = """
node_id = 1
data_dir = "n1"
resp = "127.0.0.1:7001"
peer = "127.0.0.1:7101"
[[members]]
id = 1
peer = "127.0.0.1:7101"
resp = "127.0.0.1:7001"
"""


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.replace("node_id = 1", "node_id = 4"), "node_id 4 is not among the members"),
        (lambda s: "protocol = 'paxos'\n" + s, "protocol: expected one of raft"),
        (lambda s: "tick_ms = 0\n" + s, "tick_ms: expected an integer >= 1"),
        (lambda s: "fsync = 'yes'\n" + s, "fsync: expected true or false"),
        (lambda s: s.replace('resp = "127.0.0.1:7001"\npeer', 'resp = "localhost"\npeer'), "expected host:port"),
        (lambda s: "colour = 'blue'\n" + s, "unknown key(s): colour"),
        (lambda s: s.replace("data_dir", "dir"), "unknown key(s): dir"),
        (lambda s: s + "[[members]]\nid = 1\npeer = 'a:1'\nresp = 'a:2'\n", "duplicate member ids"),
        (lambda s: "this is not toml", "not valid TOML"),
        (lambda s: "max_entry_bytes = 1024\n" + s, "max_entry_bytes: expected an integer >= 2097152"),
        (lambda s: "max_entry_bytes = 268435456\n" + s, "max_entry_bytes must be at most 134217728"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(edit(GOOD))
    with pytest.raises(ConfigError) as err:
        config_mod.load(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="no such config file"):
        config_mod.load(Path("/nonexistent/replicator.toml"))


# --- the cluster secret ------------------------------------------------------------------------
THREE = (
    GOOD
    + """
[[members]]
id = 2
peer = "127.0.0.1:7102"
resp = "127.0.0.1:7002"
"""
)


def load_three(tmp_path, extra: str = ""):
    path = tmp_path / "n1.toml"
    path.write_text(extra + THREE)
    return config_mod.load(path)


def test_a_secret_file_is_read_at_start_relative_to_the_config(tmp_path):
    secret = config_mod.generate_secret()
    (tmp_path / "cluster.secret").write_text(secret + "\n")  # an editor's newline is not part of it
    cfg = load_three(tmp_path, 'cluster_secret_file = "cluster.secret"\n')
    assert cfg.cluster_secret_file == tmp_path / "cluster.secret"
    assert config_mod.peer_secret(cfg) == secret.encode()
    assert config_mod.load(_rewritten(tmp_path, cfg)) == cfg  # to_toml keeps the key


def test_an_aclfile_is_relative_to_the_config_and_round_trips(tmp_path):
    cfg = load_three(tmp_path, 'aclfile = "users.acl"\n')
    assert cfg.aclfile == tmp_path / "users.acl"
    assert config_mod.load(_rewritten(tmp_path, cfg)) == cfg
    assert load_three(tmp_path).aclfile is None


def test_an_inline_secret_round_trips_and_is_never_printed(tmp_path):
    secret = config_mod.generate_secret()
    cfg = load_three(tmp_path, f'cluster_secret = "{secret}"\n')
    assert config_mod.peer_secret(cfg) == secret.encode()
    assert secret not in repr(cfg)
    assert config_mod.load(_rewritten(tmp_path, cfg)) == cfg


def _rewritten(tmp_path, cfg):
    path = tmp_path / "again.toml"
    path.write_text(config_mod.to_toml(cfg))
    return path


def test_without_a_secret_a_node_refuses_to_start_unless_insecure_peers(tmp_path):
    with pytest.raises(ConfigError, match="no cluster secret.*insecure_peers = true"):
        config_mod.peer_secret(load_three(tmp_path))
    cfg = load_three(tmp_path, "insecure_peers = true\n")
    assert config_mod.peer_secret(cfg) is None
    assert "insecure_peers = true" in config_mod.to_toml(cfg)
    single = config_mod.load(_write(tmp_path, GOOD))  # a cluster of one has no peer to authenticate
    assert config_mod.peer_secret(single) is None


def _write(tmp_path, text):
    path = tmp_path / "one.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "extra, message",
    [
        ('cluster_secret = "short"\n', "too short (5 characters; at least 16"),
        ('cluster_secret = "a-long-enough-secret"\ncluster_secret_file = "s"\n', "not both"),
        ('cluster_secret = "a-long-enough-secret"\ninsecure_peers = true\n', "contradicts"),
        ("cluster_secret = 12345678901234567890\n", "cluster_secret: expected a string"),
        ("insecure_peers = 'yes'\n", "insecure_peers: expected true or false"),
    ],
)
def test_bad_secret_keys_are_clear_errors_at_load(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as err:
        load_three(tmp_path, extra)
    assert str(tmp_path / "n1.toml") in str(err.value)


def test_a_missing_or_short_secret_file_names_the_file(tmp_path):
    cfg = load_three(tmp_path, 'cluster_secret_file = "nowhere/cluster.secret"\n')
    with pytest.raises(ConfigError, match="nowhere/cluster.secret: no such file .*replicator secret --file"):
        config_mod.peer_secret(cfg)
    (tmp_path / "short.secret").write_text("abc\n")
    cfg = load_three(tmp_path, 'cluster_secret_file = "short.secret"\n')
    with pytest.raises(ConfigError, match="short.secret: the secret is too short"):
        config_mod.peer_secret(cfg)


def test_cluster_configs_share_one_fresh_secret(tmp_path):
    first = cluster_configs(3, "raft", 7001, tmp_path, fsync=True)
    again = cluster_configs(3, "raft", 7001, tmp_path, fsync=True)
    assert len({cfg.cluster_secret for cfg in first}) == 1 and first[0].cluster_secret
    assert first[0].cluster_secret != again[0].cluster_secret


@pytest.mark.parametrize(
    "text", ["", ":", "h:", ":1", "h:-1", "h:65536", "h:1x", "h:" + "9" * 5000, "h:-9223372036854775808", "h:١٢"]
)
def test_address_of_refuses_what_is_no_address(text):
    """Members' addresses travel in replicated configurations and handshakes as strings."""
    assert address_of(text) is None


def test_address_of_takes_the_last_colon():
    assert address_of("::1:7001") == ("::1", 7001)
