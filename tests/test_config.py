import tomllib
from pathlib import Path

import pytest

from replicator import config as config_mod
from replicator.cli import cluster_configs
from replicator.config import ConfigError


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
