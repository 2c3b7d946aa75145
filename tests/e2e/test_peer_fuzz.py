"""The peer port against strangers: a seeded fuzzer and the regressions of issue 10's finding 2.

A live 3-node cluster (real processes) gets connection after connection on its
peer ports: garbage, broken and oversized frames, handshakes that are old,
truncated, mutated, reversed or proven with the wrong secret, and forged
messages of every Raft, ZAB and runtime message class (AppendEntries,
TimeoutNow, ForwardRequest, ...), claiming to come from real members, sent with
no handshake, a proofless one or a wrong secret. Afterwards the cluster must be
exactly as before: the same data and commit index on every node, the same
leader in the same term, every node alive, and only a few refusal lines in each
log (they are rate-limited per remote host).

    PEER_FUZZ_SEED=1234 PEER_FUZZ_CONNECTIONS=5000 pytest tests/e2e/test_peer_fuzz.py

replays a seed (printed at the start of each run) or runs longer. Forged
messages from a member that HOLDS the secret (a Byzantine member) are the
simulator's business (its Byzantine-lite profile), not this file's.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import random
import socket
import struct
import types
import typing

import msgspec
import pytest

from replicator.codec import Codec, FrameReader
from replicator.protocol.raft import messages as raft_messages
from replicator.protocol.raft.messages import AppendEntries
from replicator.protocol.zab import messages as zab_messages
from replicator.protocols import message_types
from replicator.runtime import handshake
from replicator.runtime import messages as runtime_messages
from replicator.runtime.messages import WIRE_VERSION, Challenge, ForwardRequest, Hello, Welcome
from replicator.types import Entry
from statemachines import encode_args
from tests.e2e.harness import ProcessCluster, closed_by_node, wait_for

pytestmark = pytest.mark.e2e

MESSAGE_TYPES = {**raft_messages.MESSAGE_TYPES, **zab_messages.MESSAGE_TYPES, **runtime_messages.MESSAGE_TYPES}
CODEC = Codec(MESSAGE_TYPES)  # every class any node could decode, whatever its protocol
CONNECTIONS = int(os.environ.get("PEER_FUZZ_CONNECTIONS", "150"))
MAX_REFUSAL_LINES = 3  # one per remote host per minute; a run may straddle a minute or two


@pytest.fixture(params=("raft", "zab"))
def cluster(request, tmp_path):
    # Election timeouts of 2-4 s: "the leader did not change" must not depend on a quiet machine.
    c = ProcessCluster(tmp_path, protocol=request.param, tick_ms=50, election_ticks=40)
    c.start_all()
    try:
        yield c
    finally:
        c.close()


# --- what the cluster looks like -------------------------------------------------------------
def snapshot_of(cluster: ProcessCluster, keys: list[str]) -> dict:
    """Leader, term, commit index and the values of `keys` on every node, once all agree."""

    def settled():
        leader = cluster.leader()
        infos = {i: cluster.info(i) for i in cluster.configs}
        commits = {info["commit_index"] for info in infos.values()}
        applied = {info["applied_index"] for info in infos.values()}
        if len(commits) != 1 or applied != commits:
            return None
        values = {i: tuple(cluster.client(i).mget(keys)) for i in cluster.configs}
        return {
            "leader": leader,
            "terms": {i: info["term"] for i, info in infos.items()},
            "commit": commits.pop(),
            "values": values,
            "dbsize": {i: cluster.client(i).dbsize() for i in cluster.configs},
        }

    return wait_for(settled, 30, "every node to apply the same commit index")


def refusal_lines(cluster: ProcessCluster, node_id: int) -> int:
    text = (cluster.root / f"n{node_id}.log").read_text(errors="replace")
    return sum("refusing peer connection" in line for line in text.splitlines())


def assert_untouched(cluster: ProcessCluster, keys: list[str], before: dict, seed: object) -> None:
    assert sorted(cluster.alive()) == sorted(cluster.configs), f"seed {seed}: a node died"
    for node_id in cluster.configs:
        assert cluster.client(node_id).ping(), f"seed {seed}: node {node_id} does not answer"
    after = snapshot_of(cluster, keys)
    assert after == before, f"seed {seed}: the cluster changed\nbefore {before}\nafter  {after}"
    for node_id in cluster.configs:
        lines = refusal_lines(cluster, node_id)
        assert lines <= MAX_REFUSAL_LINES, f"seed {seed}: node {node_id} logged {lines} refusal lines"
        assert "Traceback" not in (cluster.root / f"n{node_id}.log").read_text(errors="replace"), f"seed {seed}"


# --- forging ---------------------------------------------------------------------------------
class Forger:
    """Seeded values for every field of every message class, biased towards the ones that
    matter: real member ids, the current term, the last index and just past it."""

    def __init__(self, rng: random.Random, protocol: str, members: list[int], term: int, last_index: int) -> None:
        self.rng = rng
        self.own_types = {**message_types(protocol), **runtime_messages.MESSAGE_TYPES}
        self.members = members
        self.terms = [term, term, term + 1]  # what a real member would send now
        self.indexes = [last_index, last_index + 1, last_index + 2]
        self.ints = [0, 1, 2, 3, term - 1, term + 1000, last_index + 1000, 2**31, 2**32 + 1, 2**63 - 1, -1, -(2**63)]

    def message(self, cls: type, src: int, dst: int):
        return self.build(cls, overrides={"src": src, "dst": dst})

    def build(self, cls: type, overrides: dict | None = None):
        hints = typing.get_type_hints(cls)
        names = (f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else cls.__struct_fields__
        values = {name: (overrides or {}).get(name, None) for name in names}
        for name in values:
            if values[name] is None:
                values[name] = self.value(hints[name], name)
        return cls(**values)

    def value(self, tp, name: str):
        rng = self.rng
        origin = typing.get_origin(tp)
        if origin is tuple:
            (item, _ellipsis) = typing.get_args(tp)
            return tuple(self.value(item, name) for _ in range(rng.choice((0, 1, 1, 2, 3))))
        if origin in (typing.Union, types.UnionType):
            return self.value(rng.choice([a for a in typing.get_args(tp) if a is not type(None)]), name)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return rng.choice(list(tp))
        if tp is bool:
            return rng.random() < 0.5
        if tp is int:
            plausible = rng.random() < 0.8
            if name in ("src", "dst", "leader", "target", "node_id") and plausible:
                return rng.choice(self.members)
            if ("term" in name or "epoch" in name) and plausible:
                return rng.choice(self.terms)
            if ("index" in name or name in ("commit", "last")) and plausible:
                return rng.choice(self.indexes)
            return rng.choice(self.ints) if rng.random() < 0.7 else rng.randrange(1 << 20)
        if tp is bytes:
            if rng.random() < 0.5:  # what a client write looks like in a log entry
                return encode_args([b"SET", b"forged:%d" % rng.randrange(1000), b"pwned"])
            return rng.randbytes(rng.randrange(0, 64))
        if tp is str:
            return rng.choice(("kv", "", "__transactions__", "locks", "x" * rng.randrange(100)))
        if dataclasses.is_dataclass(tp) or (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
            return self.build(tp)
        raise AssertionError(f"no forger for {tp!r} ({name})")


def read_message(sock: socket.socket, reader: FrameReader | None = None):
    """The node's next handshake message, or None once it closed the connection."""
    sock.settimeout(10)
    reader = reader or FrameReader()
    while True:
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            return None
        if not data:
            return None
        frames = reader.feed(data)
        if frames:
            return CODEC.decode(frames[0])


def read_challenge(sock: socket.socket) -> Challenge | None:
    msg = read_message(sock)
    return msg if isinstance(msg, Challenge) else None


def wrong_proof(
    rng: random.Random, challenge: Challenge, claimed: int, nonce: bytes, cluster_id: str, protocol: str
) -> bytes:
    """A well-made proof with a key that is not the cluster secret."""
    key = rng.choice((b"", b"password", rng.randbytes(32)))
    return handshake.proof(
        key,
        handshake.DIALER,
        cluster_id=cluster_id,
        protocol=protocol,
        version=WIRE_VERSION,
        dialer=claimed,
        acceptor=challenge.node_id,
        acceptor_nonce=challenge.nonce,
        dialer_nonce=nonce,
    )


ATTACKS = (
    "garbage",
    "garbage-frame",
    "huge-frame",
    "messages-only",
    "old-hello",
    "no-proof",
    "wrong-secret",
    "mutated-hello",
    "truncated-hello",
    "reversed-roles",
)


def attack(
    rng: random.Random, forger: Forger, kind: str, addr, target: int, cluster_id: str, protocol: str, welcomed: list
) -> None:
    """One connection to `target`'s peer port; returns once the node has closed it. A handshake
    the node accepted (none should be) is appended to `welcomed`."""
    others = [m for m in forger.members if m != target]
    claimed = rng.choice(others) if rng.random() < 0.8 else rng.choice((target, 0, 9))
    # Mostly the classes this cluster decodes (the others end the connection at their tag).
    classes = list(MESSAGE_TYPES.values()) if rng.random() < 0.3 else list(forger.own_types.values())
    forged = b"".join(
        CODEC.encode(forger.message(cls, claimed, target)) for cls in rng.choices(classes, k=rng.randrange(1, 6))
    )
    with socket.create_connection(addr, timeout=10) as sock:
        try:
            if kind == "garbage":
                sock.sendall(rng.randbytes(rng.randrange(1, 3000)))
            elif kind == "garbage-frame":
                size = rng.randrange(0, 4096)
                sock.sendall(struct.pack(">I", size) + rng.randbytes(size))
            elif kind == "huge-frame":
                sock.sendall(struct.pack(">I", rng.randrange(4097, 1 << 32)) + rng.randbytes(1000))
            elif kind == "messages-only":
                sock.sendall(forged)
            elif kind == "old-hello":  # finding 2: a version-2 Hello naming a member, then messages
                sock.sendall(CODEC.encode(Hello(cluster_id, claimed, protocol, 2)) + forged)
            elif kind == "reversed-roles":  # the acceptor's messages, sent by a dialer
                nonce = handshake.new_nonce()
                sock.sendall(
                    rng.choice(
                        (
                            CODEC.encode(Challenge(cluster_id, claimed, protocol, WIRE_VERSION, nonce)),
                            CODEC.encode(Welcome(rng.randbytes(32))),
                        )
                    )
                    + forged
                )
            else:
                reader = FrameReader()
                challenge = read_message(sock, reader)
                assert isinstance(challenge, Challenge), f"node {target} sent no challenge"
                nonce = handshake.new_nonce()
                proof = (
                    rng.randbytes(32)
                    if kind == "no-proof"
                    else wrong_proof(rng, challenge, claimed, nonce, cluster_id, protocol)
                )
                hello = CODEC.encode(Hello(cluster_id, claimed, protocol, WIRE_VERSION, nonce, proof))
                if kind == "mutated-hello":
                    hello = bytearray(hello)
                    for _ in range(rng.randrange(1, 4)):
                        hello[rng.randrange(len(hello))] = rng.randrange(256)
                    hello = bytes(hello)
                elif kind == "truncated-hello":
                    hello = hello[: rng.randrange(1, len(hello))]
                    forged = b""
                if kind != "no-proof" and kind != "wrong-secret" or rng.random() < 0.3:
                    sock.sendall(hello + forged)  # eager: messages right behind the Hello
                else:  # patient, as a real member is: messages only once welcomed
                    sock.sendall(hello)
                    if isinstance(read_message(sock, reader), Welcome):
                        welcomed.append(kind)
                        sock.sendall(forged)
            sock.shutdown(socket.SHUT_WR)  # a partial frame is complete now: no waiting for the timeout
        except OSError:
            pass  # the node closed first
        closed_by_node(sock)


def test_peer_port_fuzzer_leaves_the_cluster_untouched(cluster):
    seed = int(os.environ.get("PEER_FUZZ_SEED", random.randrange(1 << 32)))
    print(f"peer fuzz seed {seed} ({CONNECTIONS} connections); replay with PEER_FUZZ_SEED={seed}")
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(20)]
    leader = cluster.leader()
    for key in keys:
        cluster.client(leader).set(key, f"value of {key}")
    before = snapshot_of(cluster, keys)
    info = cluster.info(leader)
    forger = Forger(
        rng, cluster.configs[leader].protocol, sorted(cluster.configs), int(info["term"]), int(info["last_index"])
    )
    cfg = cluster.configs[leader]
    counts = dict.fromkeys(ATTACKS, 0)
    welcomed: list[str] = []
    for _ in range(CONNECTIONS):
        kind = rng.choice(ATTACKS)
        target = rng.choice(sorted(cluster.configs))
        attack(rng, forger, kind, cluster.configs[target].peer, target, cfg.cluster_id, cfg.protocol, welcomed)
        counts[kind] += 1
    print(f"attacks: {counts}")
    assert welcomed == [], f"seed {seed}: a stranger's handshake was accepted"
    assert_untouched(cluster, keys, before, seed)


# --- finding 2 -------------------------------------------------------------------------------
def forged_append(cluster: ProcessCluster, leader: int, follower: int) -> tuple[bytes, bytes]:
    """The 172-byte attack of finding 2: a (version 2) Hello as the leader, then one AppendEntries
    that extends the follower's log by a forged SET."""
    info = cluster.info(follower)
    term, last = int(info["term"]), int(info["last_index"])
    entry = Entry(last + 1, term, encode_args([b"SET", b"forged", b"pwned"]))
    append = AppendEntries(leader, follower, term, last, term, (entry,), last + 1)
    cfg = cluster.configs[follower]
    return CODEC.encode(Hello(cfg.cluster_id, leader, cfg.protocol, 2)), CODEC.encode(append)


@pytest.mark.parametrize("cluster", ["raft"], indirect=True)
def test_finding_2_a_forged_hello_and_append_entries_change_nothing(cluster):
    keys = ["forged"]
    leader = cluster.leader()
    cluster.client(leader).set("real", "1")
    before = snapshot_of(cluster, keys)
    for follower in (i for i in cluster.configs if i != leader):
        old_hello, append = forged_append(cluster, leader, follower)
        with socket.create_connection(cluster.configs[follower].peer, timeout=10) as sock:
            sock.sendall(old_hello + append)
            closed_by_node(sock)
        # and the same behind a current-version Hello without a proof
        with socket.create_connection(cluster.configs[follower].peer, timeout=10) as sock:
            challenge = read_challenge(sock)
            nonce = handshake.new_nonce()
            hello = CODEC.encode(Hello(challenge.cluster_id, leader, challenge.protocol, WIRE_VERSION, nonce, b""))
            sock.sendall(hello + append)
            closed_by_node(sock)
    assert_untouched(cluster, keys, before, "-")
    assert before["values"][leader] == (None,)
    cluster.client(leader).set("after", "1")  # the leader still leads and commits
    assert all(cluster.client(i).get("after") == b"1" for i in cluster.configs)


PASSWORD = "hunter2-hunter2"


@pytest.mark.parametrize("protocol", ["raft", "zab"])
def test_finding_2_a_forged_forward_request_writes_nothing(tmp_path, protocol):
    """Past requirepass too: the leader applied a stranger's ForwardRequest as if a follower sent it."""
    cluster = ProcessCluster(tmp_path, protocol=protocol, requirepass=PASSWORD)
    cluster.start_all()
    try:
        before = settled_with_password(cluster)
        leader = before[0]
        follower = next(i for i in cluster.configs if i != leader)
        cfg = cluster.configs[leader]
        forward = CODEC.encode(
            ForwardRequest(follower, leader, 1, ("kv",), (encode_args([b"SET", b"forged", b"pwned"]),))
        )
        for opening in (CODEC.encode(Hello(cfg.cluster_id, follower, protocol, 2)), b""):
            with socket.create_connection(cfg.peer, timeout=10) as sock:
                sock.sendall(opening + forward)
                closed_by_node(sock)
        after = settled_with_password(cluster)
        assert after == before and after[2] == (None, None, None)
    finally:
        cluster.close()


def settled_with_password(cluster: ProcessCluster) -> tuple:
    """(leader, commit index, the key the attack writes on every node), once every node agrees."""

    def settled():
        infos = [cluster.client(i, password=PASSWORD).info("consensus") for i in cluster.configs]
        leaders = {info.get("leader_id") for info in infos}
        positions = {(info["commit_index"], info["applied_index"]) for info in infos}
        if len(leaders) != 1 or None in leaders or "" in leaders or len(positions) != 1:
            return None
        values = tuple(cluster.client(i, password=PASSWORD).get("forged") for i in cluster.configs)
        return leaders.pop(), positions.pop(), values

    return wait_for(settled, 30, "an agreed leader and every node at the same commit index")
