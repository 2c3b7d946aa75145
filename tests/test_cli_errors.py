"""`replicator serve` reports what stopped it: an operator's error in one line, a bug as a bug."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicator import cli
from replicator import config as config_mod
from replicator.config import Config, Member


def config_file(tmp_path: Path) -> Path:
    member = Member(id=1, peer=("127.0.0.1", 1), resp=("127.0.0.1", 2))
    path = tmp_path / "n1.toml"
    path.write_text(
        config_mod.to_toml(
            Config(node_id=1, members=(member,), data_dir=tmp_path / "d", resp=member.resp, peer=member.peer)
        )
    )
    return path


def test_an_unexpected_exception_in_serve_is_reported_as_an_internal_error(tmp_path, monkeypatch, capsys):
    async def serve_node(cfg):  # what the leader did on finding 2: a KeyError deep in the engine
        raise KeyError(5)

    monkeypatch.setattr("replicator.process.serve_node", serve_node)
    assert cli.main(["serve", "--config", str(config_file(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "replicator: stopped by an internal error: KeyError: 5 (a bug; the traceback is logged above)" in err
    assert "Traceback" in err and "replicator: 5\n" not in err


@pytest.mark.parametrize("exc", [LookupError("no state machine named 'x' is installed")])
def test_an_operator_error_is_one_line(tmp_path, monkeypatch, capsys, exc):
    async def serve_node(cfg):
        raise exc

    monkeypatch.setattr("replicator.process.serve_node", serve_node)
    assert cli.main(["serve", "--config", str(config_file(tmp_path))]) == 2
    assert capsys.readouterr().err == f"replicator: {exc}\n"


@pytest.mark.parametrize("taken", ["clients", "peers", "metrics"])
def test_a_port_that_cannot_be_bound_stops_the_node_with_one_line_naming_it(tmp_path, capsys, taken):
    """It was an internal error with a traceback (the node could not tell the operator which
    address, or that it was simply in use)."""
    import socket

    from tests.e2e.harness import cluster_port_block

    base = cluster_port_block(1)  # free, and below the ephemeral range (no outgoing connection takes them)
    ports = {"clients": base, "peers": base + 100, "metrics": base + 200}
    holders = [socket.socket()]
    holders[0].bind(("127.0.0.1", ports[taken]))
    holders[0].listen()
    member = Member(id=1, peer=("127.0.0.1", ports["peers"]), resp=("127.0.0.1", ports["clients"]))
    cfg = Config(
        node_id=1,
        members=(member,),
        data_dir=tmp_path / "d",
        resp=member.resp,
        peer=member.peer,
        metrics=("127.0.0.1", ports["metrics"]),
        cluster_secret="s" * 32,
    )
    path = tmp_path / "n1.toml"
    path.write_text(config_mod.to_toml(cfg))
    try:
        assert cli.main(["serve", "--config", str(path)]) == 2
    finally:
        for sock in holders:
            sock.close()
    err = capsys.readouterr().err
    line = f"replicator: cannot listen for {taken} on 127.0.0.1:{ports[taken]}: Address already in use\n"
    assert err.endswith(line) and "Traceback" not in err and "internal error" not in err, err
