"""CLIENT TRACKING, CLIENT PAUSE, CLIENT LIST fields and MONITOR with several connections, driven by
real clients (redis-py, raw sockets) against a server on a FakeNode whose writes are applied by the
node's own task (as on a real node): what the one-connection oracle cases cannot show."""

from __future__ import annotations

import socket
import time

import pytest
import redis
import trio
from redis.cache import CacheConfig
from resp_helpers import RawClient, encode_command

DEADLINE_S = 10.0


def _until(predicate, what: str):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _push(raw: RawClient, timeout: float = DEADLINE_S) -> bytes:
    """The next message the server sends on its own (nothing is sent to ask for it)."""
    raw.sock.settimeout(timeout)
    try:
        return raw.reply()
    finally:
        raw.sock.settimeout(DEADLINE_S)


def _nothing_more(raw: RawClient) -> None:
    """Nothing arrives before a PING's answer: what came before it was all there was."""
    assert raw.command("PING") == b"+PONG\r\n"


# --- client-side caching --------------------------------------------------------------------------
def _redis_py_cache(port: int) -> tuple[list, int]:
    cached = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())
    writer = redis.Redis(port=port)
    writer.set("k", "1")
    assert cached.get("k") == b"1"
    cache = cached.get_cache()
    _until(lambda: cache.size == 1, "the value in redis-py's cache")
    writer.set("k", "2")  # invalidates the reader's copy: the next GET goes to the server again
    seen = _until(lambda: cached.get("k") == b"2" and [b"2"], "the new value after the invalidation")
    writer.flushall()
    _until(lambda: cached.get("k") is None, "the flush invalidating everything")
    tracked = cached.client_trackinginfo()
    cached.close()
    writer.close()
    return seen, tracked


async def test_redis_py_client_side_caching_is_invalidated(port, monkeypatch):
    # redis-py offers its cache only to servers that say 7.4 or later (a product policy: the RESP3
    # tracking it uses is Redis 6's); this server says 7.0
    monkeypatch.setattr(redis.connection.CacheProxyConnection, "MIN_ALLOWED_VERSION", "7.0.0")
    seen, tracked = await trio.to_thread.run_sync(_redis_py_cache, port)
    assert seen == [b"2"]
    assert tracked[b"flags"] == [b"on"] or b"on" in tracked[b"flags"]


def _resp3_pushes(port: int) -> list[bytes]:
    with RawClient(port) as reader, RawClient(port) as writer:
        reader.command("HELLO", "3")
        assert reader.command("CLIENT", "TRACKING", "on") == b"+OK\r\n"
        reader.command("MGET", "a", "b")
        writer.command("SET", "a", "1")
        got = [_push(reader)]  # no request: the push wakes the idle connection
        writer.command("SET", "a", "2")  # a is no longer tracked for the reader: nothing
        writer.command("DEL", "b")  # no such key: nothing changed, nothing to tell
        writer.command("SET", "b", "1")
        got.append(_push(reader))
        writer.command("FLUSHDB")
        got.append(_push(reader))
        _nothing_more(reader)
        return got


async def test_resp3_invalidation_pushes_reach_an_idle_reader(port):
    got = await trio.to_thread.run_sync(_resp3_pushes, port)
    assert got == [
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n",
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nb\r\n",
        b">2\r\n$10\r\ninvalidate\r\n_\r\n",
    ]


def _resp2_redirect(port: int) -> tuple[list[bytes], bytes, bytes]:
    with RawClient(port) as target, RawClient(port) as reader, RawClient(port) as writer:
        target_id = int(target.command("CLIENT", "ID")[1:-2])
        target.command("SUBSCRIBE", "__redis__:invalidate")
        assert reader.command("CLIENT", "TRACKING", "on", "REDIRECT", target_id) == b"+OK\r\n"
        assert reader.command("CLIENT", "GETREDIR") == b":%d\r\n" % target_id
        reader.command("GET", "x")
        writer.command("SET", "x", "1")
        got = [_push(target)]
        writer.command("FLUSHALL")
        got.append(_push(target))
        _nothing_more(reader)  # RESP2 without a push channel of its own: nothing on the reader
        target.close()  # the redirect target goes: the reader's next invalidation finds it gone
        reader.command("GET", "x")
        writer.command("SET", "x", "2")
        info = _until(lambda: b"broken_redirect" in (r := reader.command("CLIENT", "TRACKINGINFO")) and r, "R")
        listing = reader.command("CLIENT", "INFO")
        return got, info, listing


async def test_resp2_invalidations_go_to_the_redirect_target_as_pubsub_messages(port):
    got, info, listing = await trio.to_thread.run_sync(_resp2_redirect, port)
    channel = b"$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
    assert got == [b"*3\r\n" + channel + b"*1\r\n$1\r\nx\r\n", b"*3\r\n" + channel + b"$-1\r\n"]
    assert b"broken_redirect" in info
    assert b" flags=tR " in listing


def _bcast(port: int) -> list[bytes]:
    with RawClient(port) as reader, RawClient(port) as writer:
        reader.command("HELLO", "3")
        assert reader.command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "NOLOOP") == b"+OK\r\n"
        writer.command("MSET", "user:2", "a", "other", "b", "user:1", "c")
        got = [_push(reader)]
        reader.command("SET", "user:3", "mine")  # NOLOOP: its own write is not announced to it
        writer.command("SET", "user:4", "x")
        got.append(_push(reader))
        _nothing_more(reader)
        return got


async def test_bcast_announces_every_change_under_its_prefixes(port):
    got = await trio.to_thread.run_sync(_bcast, port)
    assert got == [
        b">2\r\n$10\r\ninvalidate\r\n*2\r\n$6\r\nuser:1\r\n$6\r\nuser:2\r\n",
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:4\r\n",
    ]


def _subscribed_while_tracking(port: int, node) -> list:
    machine = node.machines["kv"]
    states = [machine.key_changed is None]
    with RawClient(port) as reader:
        reader.command("CLIENT", "TRACKING", "on")
        states.append(machine.key_changed is not None)
        with RawClient(port) as other:
            other.command("CLIENT", "TRACKING", "on", "BCAST")
            other.command("CLIENT", "TRACKING", "off")
        states.append(machine.key_changed is not None)
    states.append(_until(lambda: machine.key_changed is None, "the subscription to end with the last tracker"))
    return states


async def test_the_node_reports_key_changes_only_while_someone_tracks(port, node):
    assert await trio.to_thread.run_sync(_subscribed_while_tracking, port, node) == [True, True, True, True]


# --- CLIENT PAUSE ---------------------------------------------------------------------------------
def _pause_write(port: int) -> tuple:
    admin, writer, reader = redis.Redis(port=port), RawClient(port), redis.Redis(port=port)
    try:
        reader.set("k", "old")
        assert admin.client_pause(60_000, all=False) is True
        writer.send(encode_command("SET", "k", "new"))
        writer.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            writer.reply()  # held while paused
        writer.sock.settimeout(DEADLINE_S)
        during = reader.get("k")  # reads go on under a WRITE pause
        admin.client_unpause()
        released = writer.reply()
        after = reader.get("k")
        # ALL holds reads too; the pause ends by itself at its timeout
        start = time.monotonic()  # before the pause begins: the GET cannot answer before start + 0.3 s
        admin.execute_command("CLIENT", "PAUSE", 300, "ALL")
        late = reader.get("k")
        return during, released, after, late, time.monotonic() - start
    finally:
        writer.close()
        admin.close()
        reader.close()


async def test_client_pause_write_holds_a_set_while_a_get_answers(port):
    during, released, after, late, held_s = await trio.to_thread.run_sync(_pause_write, port)
    assert (during, released, after, late) == (b"old", b"+OK\r\n", b"new", b"new")
    assert held_s > 0.25  # it waited for the pause to end (a lower bound: true however busy the machine)


# --- CLIENT LIST ----------------------------------------------------------------------------------
def _listing(port: int) -> dict:
    with RawClient(port) as sub, RawClient(port) as tracker, RawClient(port) as multi:
        sub.command("SUBSCRIBE", "a", "b")
        sub.command("PSUBSCRIBE", "p*")
        sub.command("SSUBSCRIBE", "s")
        tracker.command("CLIENT", "TRACKING", "on", "BCAST")
        tracker.command("CLIENT", "NO-EVICT", "on")
        ids = {name: int(c.command("CLIENT", "ID")[1:-2]) for name, c in (("tracker", tracker), ("multi", multi))}
        multi.command("MULTI")
        multi.command("SET", "k", "v")
        r = redis.Redis(port=port)
        listing = {int(c["id"]): c for c in r.client_list()}
        pubsub_only = r.client_list(_type="pubsub")
        r.close()
        return listing, ids, pubsub_only


async def test_client_list_shows_redis_fields_and_modes(port):
    listing, ids, pubsub_only = await trio.to_thread.run_sync(_listing, port)
    fields = "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp"
    for client in listing.values():
        assert list(client)[: len(fields.split())] == fields.split()
    [sub] = pubsub_only
    assert (sub["flags"], sub["sub"], sub["psub"], sub["ssub"]) == ("P", "2", "1", "1")
    tracker, multi = listing[ids["tracker"]], listing[ids["multi"]]
    assert (tracker["flags"], tracker["redir"], tracker["cmd"]) == ("tBe", "0", "client|id")
    assert (multi["flags"], multi["multi"], multi["redir"]) == ("x", "1", "-1")


# --- MONITOR --------------------------------------------------------------------------------------
def _monitor(port: int) -> list[dict]:
    r = redis.Redis(port=port)
    seen = []
    with r.monitor() as monitor:
        other = redis.Redis(port=port, db=0)
        other.set("key", 'va"l\n')
        other.get("key")
        other.client_list()  # admin: not shown
        other.execute_command("SELECT", 2)
        other.ping()
        while len(seen) < 4:
            line = monitor.next_command()
            if not line["command"].startswith(("HELLO", "CLIENT SETINFO")):  # redis-py's handshake
                seen.append(line)
        other.close()
    r.close()
    return seen


async def test_monitor_through_redis_py(port):
    seen = await trio.to_thread.run_sync(_monitor, port)
    assert [(s["db"], s["command"]) for s in seen] == [
        (0, 'SET key va"l\\n'),
        (0, "GET key"),
        (2, "SELECT 2"),
        (2, "PING"),
    ]
    assert all(s["client_type"] == "tcp" and s["client_address"] == "127.0.0.1" for s in seen)


def _monitor_raw(port: int) -> list[bytes]:
    with RawClient(port) as monitor, RawClient(port) as other:
        assert monitor.command("MONITOR") == b"+OK\r\n"
        other.command("AUTH", "nosuchpassword")
        other.command("SET", "\x00\x7f", "\t\\")
        other.command("MULTI")
        other.command("INCR", "n")
        other.command("EXEC")
        lines = [_push(monitor) for _ in range(5)]
        assert monitor.command("RESET") == b"+RESET\r\n"  # out of MONITOR: no more lines
        other.command("PING")
        _nothing_more(monitor)
        return lines


async def test_monitor_lines_as_redis_prints_them(port):
    lines = await trio.to_thread.run_sync(_monitor_raw, port)
    bodies = [line.split(b"] ", 1)[1] for line in lines]
    assert bodies == [
        b'"AUTH" "(redacted)"\r\n',
        b'"SET" "\\x00\\x7f" "\\t\\\\"\r\n',
        b'"MULTI"\r\n',
        b'"INCR" "n"\r\n',
        b'"EXEC"\r\n',
    ]
    for line in lines:
        assert line.startswith(b"+") and b" [0 127.0.0.1:" in line
        float(line[1:].split(b" ", 1)[0])  # the time, as seconds.microseconds


def _closed_mid_tracking(port: int) -> bool:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(encode_command("HELLO", "3") + encode_command("CLIENT", "TRACKING", "on") + encode_command("GET", "z"))
    time.sleep(0.05)
    sock.close()
    with RawClient(port) as writer:
        return writer.command("SET", "z", "1") == b"+OK\r\n" and writer.command("PING") == b"+PONG\r\n"


async def test_a_tracking_client_that_left_is_forgotten(port):
    assert await trio.to_thread.run_sync(_closed_mid_tracking, port)


def _info_fields(port: int) -> list[str]:
    with RawClient(port) as c:
        line = c.command("CLIENT", "INFO").split(b"\r\n", 1)[1]
        return [field.split(b"=", 1)[0].decode() for field in line.split()]


async def test_client_info_lists_redis_fields_in_redis_order(port, oracle_port):
    theirs = await trio.to_thread.run_sync(_info_fields, oracle_port)
    ours = await trio.to_thread.run_sync(_info_fields, port)
    assert ours[: len(theirs)] == theirs  # then this server's own: lib-name, lib-ver, read-consistency ...


def _blocked_flag(port: int) -> tuple[str, bytes]:
    with RawClient(port) as waiter, RawClient(port) as other:
        waiter_id = int(waiter.command("CLIENT", "ID")[1:-2])
        waiter.send(encode_command("BLPOP", "queue", 0))
        r = redis.Redis(port=port)
        flags = _until(
            lambda: next(
                (c["flags"] for c in r.client_list() if int(c["id"]) == waiter_id and c["flags"] != "N"), None
            ),
            "the waiter to show as blocked",
        )
        other.command("RPUSH", "queue", "job")
        r.close()
        return flags, waiter.reply()


async def test_a_client_waiting_in_blpop_shows_flag_b(port):
    flags, popped = await trio.to_thread.run_sync(_blocked_flag, port)
    assert flags == "b"
    assert popped == b"*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n"


def _info_tracking(port: int) -> tuple[dict, dict]:
    with RawClient(port) as tracker, RawClient(port) as bcast:
        tracker.command("CLIENT", "TRACKING", "on")
        tracker.command("MGET", "a", "b")
        bcast.command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p", "PREFIX", "q")
        r = redis.Redis(port=port)
        info = r.info("clients"), r.info("stats")
        r.close()
        return info


async def test_info_counts_tracking_clients_keys_and_prefixes(port):
    clients, stats = await trio.to_thread.run_sync(_info_tracking, port)
    assert clients["tracking_clients"] == 2
    assert (stats["tracking_total_keys"], stats["tracking_total_items"], stats["tracking_total_prefixes"]) == (2, 2, 2)


def _noloop_pipeline(port: int) -> list[bytes]:
    with RawClient(port) as cache, RawClient(port) as writer:
        cache.command("HELLO", "3")
        cache.command("CLIENT", "TRACKING", "on", "NOLOOP")
        cache.send(encode_command("SET", "k", "mine") + encode_command("GET", "k"))
        got = [cache.reply(), cache.reply()]  # no invalidation of its own write
        writer.command("SET", "k", "theirs")
        got.append(_push(cache))  # the value it read (and caches) changed elsewhere
        _nothing_more(cache)
        return got


async def test_noloop_pipelined_write_then_read_is_still_invalidated_by_others(port):
    got = await trio.to_thread.run_sync(_noloop_pipeline, port)
    assert got == [b"+OK\r\n", b"$4\r\nmine\r\n", b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"]
