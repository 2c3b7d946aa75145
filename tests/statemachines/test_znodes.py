"""The znodes machine on its own: ZooKeeper semantics, sessions expired through the log, snapshots."""

from __future__ import annotations

import random

from statemachines import ReplyError, decode_args, encode_args, znodes
from statemachines.znodes import EXPIRE, ZnodesMachine

T0 = 1_700_000_000_000


def cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


class Driver:
    def __init__(self, machine=None) -> None:
        self.m = machine or ZnodesMachine()
        self.index = 0

    def w(self, *args, ts: int = T0):
        self.index += 1
        return self.m.apply(self.index, cmd(*args), ts)

    def r(self, *args, now: int = T0):
        return self.m.query(cmd(*args), now)


def snap(m) -> bytes:
    return b"".join(m.snapshot())


def test_create_get_set_delete_with_stats():
    d = Driver()
    assert d.w("ZK.CREATE", "/app", "cfg") == b"/app"  # index 1
    assert d.w("ZK.CREATE", "/app/a", "x", ts=T0 + 5) == b"/app/a"  # index 2
    assert d.r("ZK.GET", "/app/a") == b"x"
    data, stat = d.r("ZK.GET", "/app/a", "WITHSTAT")
    assert data == b"x" and stat["czxid"] == stat["mzxid"] == 2 and stat["version"] == 0
    assert stat["ctime"] == stat["mtime"] == T0 + 5 and stat["ephemeralOwner"] == 0 and stat["dataLength"] == 1
    parent = d.r("ZK.STAT", "/app")
    assert parent["cversion"] == 1 and parent["pzxid"] == 2 and parent["numChildren"] == 1
    stat = d.w("ZK.SET", "/app/a", "y", "VERSION", "0", ts=T0 + 9)  # index 3
    assert stat["version"] == 1 and stat["mzxid"] == 3 and stat["czxid"] == 2 and stat["mtime"] == T0 + 9
    assert d.w("ZK.SET", "/app/a", "z", "VERSION", "0") == ReplyError("BADVERSION /app/a")
    assert d.r("ZK.GET", "/app/a") == b"y"
    assert d.w("ZK.SET", "/app/a", "z")["version"] == 2  # no VERSION: any
    assert d.w("ZK.DELETE", "/app") == ReplyError("NOTEMPTY /app")
    assert d.w("ZK.DELETE", "/app/a", "VERSION", "1") == ReplyError("BADVERSION /app/a")
    assert d.w("ZK.DELETE", "/app/a", "VERSION", "2") == "OK"
    assert d.r("ZK.EXISTS", "/app/a") == 0 and d.r("ZK.STAT", "/app/a") is None
    assert d.r("ZK.STAT", "/app")["cversion"] == 2
    assert d.w("ZK.DELETE", "/app") == "OK"
    assert d.r("ZK.CHILDREN", "/") == []


def test_zookeeper_errors():
    d = Driver()
    assert d.w("ZK.CREATE", "/a/b", "") == ReplyError("NONODE /a")
    assert d.w("ZK.CREATE", "/a", "") == b"/a"
    assert d.w("ZK.CREATE", "/a", "") == ReplyError("NODEEXISTS /a")
    assert d.w("ZK.CREATE", "/", "") == ReplyError("NODEEXISTS /")
    assert d.r("ZK.GET", "/none") == ReplyError("NONODE /none")
    assert d.w("ZK.SET", "/none", "v") == ReplyError("NONODE /none")
    assert d.w("ZK.DELETE", "/none") == ReplyError("NONODE /none")
    assert d.r("ZK.CHILDREN", "/none") == ReplyError("NONODE /none")
    assert d.w("ZK.DELETE", "/").message.startswith("BADARGUMENTS")
    for bad in ("a", "/a/", "/a//b", "/a/./b", "/a/.."):
        assert d.w("ZK.CREATE", bad, "").message.startswith("BADARGUMENTS"), bad
    assert d.w("ZK.CREATE", "/e", "", "EPHEMERAL").message.startswith("BADARGUMENTS")
    assert d.w("ZK.CREATE", "/e", "", "BOGUS") == ReplyError("ERR syntax error")
    assert d.w("ZK.SET", "/a", "v", "VERSION", "x") == ReplyError("ERR value is not an integer or out of range")
    assert d.w("ZK.CREATE", "/a") == ReplyError("ERR wrong number of arguments for 'zk.create' command")
    assert d.r("ZK.CREATE", "/q", "") == ReplyError("ERR 'zk.create' is a write: it goes through the log")
    assert d.w("NOPE").message.startswith("ERR unknown command")
    assert d.m.apply(99, b"\xc1", T0) == ReplyError("ERR invalid command encoding")
    assert d.r("zk.exists", "/a") == 1  # any case


def test_sequential_nodes_use_the_parent_cversion():
    d = Driver()
    d.w("ZK.CREATE", "/q", "")
    assert d.w("ZK.CREATE", "/q/job-", "1", "SEQUENTIAL") == b"/q/job-0000000000"
    assert d.w("ZK.CREATE", "/q/job-", "2", "SEQUENTIAL") == b"/q/job-0000000001"
    d.w("ZK.DELETE", "/q/job-0000000000")
    assert d.w("ZK.CREATE", "/q/", "3", "SEQUENTIAL") == b"/q/0000000003"  # cversion counts deletes too
    assert d.r("ZK.CHILDREN", "/q") == [b"0000000003", b"job-0000000001"]


def test_ephemerals_belong_to_sessions_and_go_with_them():
    d = Driver()
    sid = d.w("ZK.SESSION.OPEN", "1000")
    assert sid == 1
    d.w("ZK.CREATE", "/locks", "")
    assert d.w("ZK.CREATE", "/locks/me", "", "EPHEMERAL", "SESSION", sid) == b"/locks/me"
    assert d.r("ZK.STAT", "/locks/me")["ephemeralOwner"] == sid
    assert d.w("ZK.CREATE", "/locks/me/x", "") == ReplyError("NOCHILDRENFOREPHEMERALS /locks/me")
    assert d.w("ZK.SESSION.PING", sid, ts=T0 + 900) == "OK"  # deadline now T0 + 1900
    assert d.m.housekeeping(T0 + 1899) == []
    [expire] = d.m.housekeeping(T0 + 1900)
    assert decode_args(expire) == [EXPIRE, str(sid).encode()]
    d.w("ZK.SESSION.PING", sid, ts=T0 + 1800)  # pinged after the leader decided: the expiry is stale
    d.index += 1
    assert d.m.apply(d.index, expire, T0 + 1901) == 0
    assert d.r("ZK.EXISTS", "/locks/me") == 1
    d.index += 1
    assert d.m.apply(d.index, expire, T0 + 2800) == 1  # past the new deadline: expired
    assert d.r("ZK.EXISTS", "/locks/me") == 0
    assert d.r("ZK.STAT", "/locks")["pzxid"] == d.index
    d.index += 1
    assert d.m.apply(d.index, expire, T0 + 2800) == 0  # duplicated: harmless
    assert d.w("ZK.SESSION.PING", sid, ts=T0 + 2900) == ReplyError(f"SESSIONEXPIRED {sid}")
    assert d.w("ZK.CREATE", "/x", "", "EPHEMERAL", "SESSION", sid) == ReplyError(f"SESSIONEXPIRED {sid}")


def test_late_session_operation_expires_the_session():
    d = Driver()
    sid = d.w("ZK.SESSION.OPEN", "100")
    d.w("ZK.CREATE", "/e", "", "EPHEMERAL", "SESSION", sid)
    assert d.w("ZK.SESSION.PING", sid, ts=T0 + 100) == ReplyError(f"SESSIONEXPIRED {sid}")
    assert d.r("ZK.EXISTS", "/e") == 0 and d.m.housekeeping(T0 + 10_000) == []
    sid2 = d.w("ZK.SESSION.OPEN", "100")
    d.w("ZK.CREATE", "/e", "", "EPHEMERAL", "SESSION", sid2)
    d.w("ZK.CREATE", "/p", "", "SESSION", sid2)  # persistent node created in a session: stays
    assert d.w("ZK.SESSION.CLOSE", sid2) == "OK"
    assert d.r("ZK.CHILDREN", "/") == [b"p"]
    assert d.w("ZK.SESSION.CLOSE", sid2) == ReplyError(f"SESSIONEXPIRED {sid2}")
    assert d.w("ZK.SESSION.OPEN", "0") == ReplyError("ERR invalid session timeout")


def _random_tree(seed: int) -> Driver:
    rng = random.Random(seed)
    d = Driver()
    sessions = [d.w("ZK.SESSION.OPEN", "5000") for _ in range(3)]
    for i in range(400):
        parent = rng.choice(["/", "/a", "/b", "/a/x"])
        path = ("" if parent == "/" else parent) + "/" + rng.choice(["a", "b", "x", "n"])
        roll = rng.random()
        if roll < 0.4:
            opts = ["EPHEMERAL", "SESSION", rng.choice(sessions)] if rng.random() < 0.3 else []
            d.w("ZK.CREATE", path, f"d{i}", *opts, *(["SEQUENTIAL"] if rng.random() < 0.3 else []))
        elif roll < 0.7:
            d.w("ZK.SET", path, f"v{i}")
        else:
            d.w("ZK.DELETE", path)
    return d


def test_snapshot_round_trip_in_many_chunks():
    d = _random_tree(7)
    chunks = list(znodes.dump(d.m._tree, chunk_bytes=256))
    assert len(chunks) > 5
    other = ZnodesMachine()
    other.restore(chunks)
    assert snap(other) == snap(d.m)
    for path in ("/", "/a", "/b", "/a/x"):
        assert other.query(cmd("ZK.CHILDREN", path), T0) == d.r("ZK.CHILDREN", path)
        assert other.query(cmd("ZK.STAT", path), T0) == d.r("ZK.STAT", path)
    # the restored machine behaves the same from here on: sessions and their ephemerals came back
    for sid in (1, 2, 3):
        assert other.apply(10_000, cmd("ZK.SESSION.CLOSE", sid), T0) == d.m.apply(
            10_000, cmd("ZK.SESSION.CLOSE", sid), T0
        )
    assert snap(other) == snap(d.m)
    empty = ZnodesMachine()
    empty.restore(())
    assert snap(empty) == snap(ZnodesMachine())


def test_same_commands_give_the_same_bytes():
    assert snap(_random_tree(3).m) == snap(_random_tree(3).m)
    assert snap(_random_tree(3).m) != snap(_random_tree(4).m)


def test_a_bad_snapshot_leaves_the_machine_intact():
    d = _random_tree(1)
    before = snap(d.m)
    chunks = list(d.m.snapshot())
    for broken in ([b"\x93\xa3xyz\x01\x00"], chunks[:-1]):
        try:
            d.m.restore(broken)
        except ValueError:
            pass
        else:
            raise AssertionError("a broken snapshot was accepted")
        assert snap(d.m) == before


def test_declared_commands():
    specs = {s.name.upper(): s for s in ZnodesMachine().commands()}
    assert {
        "ZK.CREATE",
        "ZK.GET",
        "ZK.SET",
        "ZK.DELETE",
        "ZK.CHILDREN",
        "ZK.EXISTS",
        "ZK.STAT",
        "ZK.SESSION.OPEN",
        "ZK.SESSION.PING",
        "ZK.SESSION.CLOSE",
    } == set(specs)
    assert EXPIRE.decode() not in specs  # internal: no client may send it
    assert all(s.is_write != ("readonly" in s.flags) for s in specs.values())


def test_checks_reject_what_apply_rejects_before_the_log():
    specs = {s.name: s for s in ZnodesMachine().commands()}
    cases = [
        ("zk.create", ["/a", "d", "EPHEMERAL"]),
        ("zk.create", ["a", "d"]),
        ("zk.create", ["/a", "d", "BOGUS"]),
        ("zk.create", ["/a//", "d", "SEQUENTIAL"]),
        ("zk.create", ["/a", "d", "SESSION", "x"]),
        ("zk.get", ["/a", "NOSTAT"]),
        ("zk.get", ["/a", "WITHSTAT", "x"]),
        ("zk.set", ["/a", "d", "VERSION"]),
        ("zk.set", ["/a", "d", "VERSION", "x"]),
        ("zk.set", ["a/", "d"]),
        ("zk.delete", ["/a", "VERSION", "x"]),
        ("zk.session.open", ["0"]),
        ("zk.session.ping", ["x"]),
    ]
    for name, rest in cases:
        args = [name.upper().encode(), *(a.encode() for a in rest)]
        error = specs[name].check(args)
        assert isinstance(error, ReplyError), (name, rest)
        assert Driver().m.apply(1, encode_args(args), T0) == error, (name, rest)
    ok = [
        ("zk.create", ["/a", "d", "EPHEMERAL", "SESSION", "3", "SEQUENTIAL"]),
        ("zk.create", ["/", "d", "SEQUENTIAL"]),
        ("zk.get", ["/a", "withstat"]),
        ("zk.set", ["/a", "d", "VERSION", "-1"]),
        ("zk.session.ping", ["3"]),
    ]
    for name, rest in ok:
        assert specs[name].check([name.encode(), *(a.encode() for a in rest)]) is None, (name, rest)
