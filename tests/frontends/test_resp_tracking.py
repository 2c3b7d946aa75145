"""The tracking table on its own (frontends/resp/tracking.py): bounds, key positions and NOLOOP,
with sessions whose pushes are collected in lists; and CLIENT TRACKING's hostile inputs."""

from __future__ import annotations

import random

import trio
from resp_helpers import RawClient, encode_command

from frontends.resp.commands.table import build_table
from frontends.resp.key_changes import KeyChangeListeners
from frontends.resp.session import Session
from frontends.resp.tracking import ClientTracking, Tracking, command_keys
from statemachines.kv import KVMachine


class _Node:
    def __init__(self) -> None:
        self.callback = None

    def subscribe_key_changes(self, callback) -> None:
        self.callback = callback


def _tracker(tracking: Tracking, session_id: int, **options) -> tuple[Session, list[bytes]]:
    got: list[bytes] = []
    session = Session(id=session_id, protocol=3, push=got.append)
    state = ClientTracking(session, **options)
    tracking.enable(state, [])
    return session, got


def test_the_table_is_bounded_and_invalidates_what_it_forgets():
    node = _Node()
    tracking = Tracking(KeyChangeListeners(node), max_keys=3)
    session, got = _tracker(tracking, 1)
    tracking.remember(session, [b"a", b"b", b"c"])
    assert got == [] and len(tracking.table) == 3
    tracking.remember(session, [b"d", b"b"])  # d pushes out a, the longest tracked
    assert list(tracking.table) == [b"b", b"c", b"d"]
    assert got == [b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n"]
    node.callback(0, b"a")  # forgotten: nothing more to say about it
    assert len(got) == 1
    tracking.disable(session)  # nobody tracks, but the table follows its keys until they change
    assert node.callback is not None
    node.callback(0, b"b")
    node.callback(None, None)
    assert node.callback is None and not tracking.table and len(got) == 1


def test_noloop_skips_only_keys_of_its_own_writes_in_flight():
    node = _Node()
    tracking = Tracking(KeyChangeListeners(node))
    session, got = _tracker(tracking, 1, noloop=True)
    tracking.remember(session, [b"k", b"j"])
    done = tracking.own_write(session.tracking, [b"k"])
    node.callback(0, b"k")  # its own write, applied
    done()
    node.callback(0, b"j")  # someone else's
    assert got == [b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nj\r\n"]
    assert session.tracking.own_writes == {}


def test_command_keys_follow_the_table_and_survive_hostile_counts():
    table = build_table(KVMachine().commands())

    def keys(*args: bytes) -> list[bytes]:
        return command_keys(table.get(args[0]), list(args))

    assert keys(b"GET", b"k") == [b"k"]
    assert keys(b"MGET", b"a", b"b", b"c") == [b"a", b"b", b"c"]
    assert keys(b"MSET", b"a", b"1", b"b", b"2") == [b"a", b"b"]
    assert keys(b"ZUNION", b"2", b"x", b"y", b"WITHSCORES") == [b"x", b"y"]
    assert keys(b"EVAL_RO", b"return 1", b"1", b"s") == [b"s"]
    assert keys(b"ZUNION", b"9" * 5000, b"x") == []  # not a count Redis would take: no keys
    assert keys(b"ZUNION", b"99999999999", b"x") == [b"x"]
    assert keys(b"ZUNION", b"-1", b"x") == []
    assert keys(b"SINTERCARD", b"notanumber", b"x") == []


def _many_prefixes(port: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    prefixes = [b"p%d:" % i for i in range(999)]
    rng.shuffle(prefixes)
    with RawClient(port) as c:
        out = [c.command("CLIENT", "TRACKING", "on", "BCAST", *[w for p in prefixes for w in (b"PREFIX", p)])]
        out.append(c.command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "y"))
        c.command("CLIENT", "TRACKING", "off")
        # p1 overlaps p1:, p10: ...: found past the first prefix (q:), so answered twice, as Redis does
        overlapping = [b"q:", *prefixes[:998], b"p1"]
        c.send(encode_command("CLIENT", "TRACKING", "on", "BCAST", *[w for p in overlapping for w in (b"PREFIX", p)]))
        out.append(c.reply())
        out.append(c.reply())
        out.append(c.command("PING"))
        return out


async def test_many_prefixes_are_checked_in_bounded_time(port):
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    out = await trio.to_thread.run_sync(_many_prefixes, port, seed)
    assert out[0] == b"+OK\r\n"
    assert out[1] == b"-ERR too many tracking prefixes for one client (at most 1000)\r\n"
    assert out[2].startswith(b"-ERR Prefix ") and out[3] == b"+OK\r\n"  # Redis' quirk: the error, then OK
    assert out[4] == b"+PONG\r\n"


def test_noloop_keeps_tracking_a_key_it_read_after_its_own_write():
    """A pipelined `SET k; GET k` of a NOLOOP session: the GET is remembered when routed, before
    the SET applies; the SET's change is its own (no invalidation), but the value the GET returns
    is cached, so the next change from elsewhere must still invalidate it."""
    node = _Node()
    tracking = Tracking(KeyChangeListeners(node))
    session, got = _tracker(tracking, 1, noloop=True)
    done = tracking.own_write(session.tracking, [b"k"])  # SET k routed
    tracking.remember(session, [b"k"])  # GET k routed
    node.callback(0, b"k")  # the SET applies
    done()  # and is answered
    assert got == []
    node.callback(0, b"k")  # another client's write
    assert got == [b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"]


def test_a_change_from_elsewhere_after_the_own_write_applied_still_invalidates():
    """The own write's change is taken once: a change from elsewhere that lands after it, before the
    write is answered, reaches the NOLOOP session (table and BCAST alike)."""
    node = _Node()
    tracking = Tracking(KeyChangeListeners(node))
    reader, got = _tracker(tracking, 1, noloop=True)
    other, _ = _tracker(tracking, 2, bcast=True)  # a prefix "" that is not the NOLOOP session's
    bcast_state = ClientTracking(Session(id=3, protocol=3), bcast=True, noloop=True)
    bcast_got: list[bytes] = []
    bcast_state.session.push = bcast_got.append
    tracking.enable(bcast_state, [b"k"])
    tracking.remember(reader, [b"k"])
    done_reader = tracking.own_write(reader.tracking, [b"k"])
    done_bcast = tracking.own_write(bcast_state, [b"k"])
    node.callback(0, b"k")  # both own writes apply: taken as theirs
    tracking.broadcast()
    assert got == [] and bcast_got == []
    tracking.remember(reader, [b"k"])
    node.callback(0, b"k")  # someone else's, before either write is answered
    tracking.broadcast()
    done_reader()
    done_bcast()
    assert got == [b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"]
    assert bcast_got == [b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"]
    assert reader.tracking.own_writes == {} and bcast_state.own_writes == {}
