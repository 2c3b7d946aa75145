"""Pub/Sub: replies byte for byte against redis-server 7.0, delivery through redis-py, hostile subscribers.

CASES hold what is deterministic on one connection: (un)subscribe replies and their counts,
subscriber mode's refusals and PING, PUBSUB introspection with at most one name in a listing
(Redis lists channels in hash order), RESP3 pushes. Messages need a second connection: they
are checked with redis-py's pubsub() (get_message and listen) against a FakeNode server, whose
PUBLISH goes through the node like any write and is delivered when applied.
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
import redis
import trio
from resp_helpers import RawClient, assert_same_as_redis, encode_command

CASES = {
    "subscribe and unsubscribe": """
        SUBSCRIBE a b
        SUBSCRIBE a
        UNSUBSCRIBE a
        UNSUBSCRIBE zz
        UNSUBSCRIBE
        UNSUBSCRIBE
        PUNSUBSCRIBE
        SUNSUBSCRIBE
        SUBSCRIBE ""
        UNSUBSCRIBE ""
    """,
    "subscriber mode": """
        SUBSCRIBE a
        GET x
        SET x 1
        MULTI
        PUBLISH a m
        PUBSUB NUMPAT
        CLIENT ID
        NOSUCHCOMMAND
        PING
        PING hi
        PING a b
        PUBSUB NOSUCH
        SUBSCRIBE
        UNSUBSCRIBE a
        GET x
        PING
    """,
    "patterns and shard channels": """
        PSUBSCRIBE p* q?
        PSUBSCRIBE p*
        SSUBSCRIBE s t
        SUBSCRIBE c
        PUBSUB NUMPAT
        PUNSUBSCRIBE q? nope
        SUNSUBSCRIBE s
        SUNSUBSCRIBE
        PUNSUBSCRIBE
        UNSUBSCRIBE
        PUBSUB NUMPAT
    """,
    "publish inside a transaction": """
        MULTI
        PUBLISH a m
        SET k v
        SPUBLISH s m
        PUBLISH a
        EXEC
        MULTI
        PUBLISH a m
        GET k
        EXEC
        MULTI
        SUBSCRIBE a
        EXEC
    """,
    "introspection": """
        PUBSUB NUMSUB
        PUBSUB NUMSUB a b
        PUBSUB SHARDNUMSUB s
        PUBSUB CHANNELS
        PUBSUB CHANNELS a*
        PUBSUB SHARDCHANNELS
        PUBSUB NUMPAT
        PUBSUB NUMPAT x
        PUBSUB CHANNELS a b
        PUBSUB HELP
        PUBSUB HELP x
        PUBSUB
        PUBSUB nosuch
        PUBLISH a hello
        PUBLISH a
        SPUBLISH s hello
        SPUBLISH s
        SUBSCRIBE c1
        PUBSUB NUMSUB c1 c2
        PUBSUB CHANNELS
        PUBSUB CHANNELS c?
        PUBSUB CHANNELS x*
        RESET
        PUBSUB NUMSUB c1
        PSUBSCRIBE p*
        PUNSUBSCRIBE p*
        SSUBSCRIBE s1
        PUBSUB SHARDCHANNELS
        PUBSUB SHARDCHANNELS s*
        PUBSUB SHARDNUMSUB s1 s2
        RESET
        PUBSUB SHARDNUMSUB s1
    """,
}

RESP3_CASE = """
    SUBSCRIBE a b
    GET x
    SET x 1
    PING
    PUBSUB NUMSUB a b
    UNSUBSCRIBE a
    UNSUBSCRIBE
    UNSUBSCRIBE
    PSUBSCRIBE p*
    PUNSUBSCRIBE
    SSUBSCRIBE s
    SUNSUBSCRIBE s
    SUNSUBSCRIBE
"""


@pytest.mark.parametrize("name", sorted(CASES))
async def test_as_redis(port, oracle_port, name):
    await assert_same_as_redis(port, oracle_port, CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
async def test_as_redis_resp3(port, oracle_port, name):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol=3)


async def test_resp3_pushes_as_redis(port, oracle_port):
    await assert_same_as_redis(port, oracle_port, RESP3_CASE, protocol=3)


# --- delivery -------------------------------------------------------------------------------------
def _wait_message(pubsub, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            return message
    raise AssertionError("no message arrived")


def _subscribe_then_publish(port: int) -> list[dict]:
    subscriber, publisher = redis.Redis(port=port), redis.Redis(port=port)
    pubsub = subscriber.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("n*")
    got = [_wait_message(pubsub), _wait_message(pubsub)]
    assert publisher.publish("news", "hello") == 2  # the channel and the pattern, on this node
    assert publisher.publish("other", "x") == 0
    got += [_wait_message(pubsub), _wait_message(pubsub)]
    assert publisher.pubsub_numsub("news", "nope") == [(b"news", 1), (b"nope", 0)]
    assert publisher.pubsub_numpat() == 1
    pubsub.unsubscribe("news")
    pubsub.punsubscribe()
    got += [_wait_message(pubsub), _wait_message(pubsub)]
    assert publisher.publish("news", "late") == 0
    pubsub.close()
    subscriber.close()
    publisher.close()
    return got


async def test_redis_py_get_message(port):
    got = await trio.to_thread.run_sync(_subscribe_then_publish, port)
    assert got == [
        {"type": "subscribe", "pattern": None, "channel": b"news", "data": 1},
        {"type": "psubscribe", "pattern": None, "channel": b"n*", "data": 2},
        {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"},
        {"type": "pmessage", "pattern": b"n*", "channel": b"news", "data": b"hello"},
        {"type": "unsubscribe", "pattern": None, "channel": b"news", "data": 1},
        {"type": "punsubscribe", "pattern": None, "channel": b"n*", "data": 0},
    ]


def _listen(port: int, count: int, protocol: int) -> list[bytes]:
    """A subscriber on one thread (pubsub.listen), a publisher on this one: every message, in order."""
    subscriber, publisher = redis.Redis(port=port, protocol=protocol), redis.Redis(port=port)
    pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("c")
    pubsub.ssubscribe("s")
    received: list[bytes] = []
    done = threading.Event()

    def listen() -> None:
        for message in pubsub.listen():
            if message["type"] in ("message", "smessage"):
                received.append(message["data"])
                if len(received) == count:
                    done.set()
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    deadline = time.monotonic() + 5
    while publisher.pubsub_numsub("c") != [(b"c", 1)] and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(count):
        if i % 2:
            publisher.spublish("s", b"%d" % i)
        else:
            publisher.publish("c", b"%d" % i)
    assert done.wait(10), f"{len(received)} of {count} messages"
    pubsub.close()
    subscriber.close()
    publisher.close()
    return received


@pytest.mark.parametrize("protocol", [2, 3])
async def test_redis_py_listen_in_order(port, protocol):
    received = await trio.to_thread.run_sync(_listen, port, 200, protocol)
    assert received == [b"%d" % i for i in range(200)]


def _publish_in_multi(port: int) -> list:
    subscriber, publisher = redis.Redis(port=port), redis.Redis(port=port)
    pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("t")
    pubsub.psubscribe("*")
    pipe = publisher.pipeline(transaction=True)
    pipe.publish("t", "one").set("k", "v").publish("u", "two")
    assert pipe.execute() == [2, True, 1]
    got = [(m["type"], m["channel"], m["data"]) for m in (_wait_message(pubsub) for _ in range(3))]
    pubsub.close()
    subscriber.close()
    publisher.close()
    return got


async def test_publish_inside_multi_reaches_subscribers(port):
    got = await trio.to_thread.run_sync(_publish_in_multi, port)
    assert got == [("message", b"t", b"one"), ("pmessage", b"t", b"one"), ("pmessage", b"u", b"two")]


# --- hostile subscribers ---------------------------------------------------------------------------
def _hostile(port: int) -> None:
    with RawClient(port) as client:
        huge = b"c" * (1 << 20)
        client.send(encode_command("SUBSCRIBE", huge))
        assert client.reply().endswith(b":1\r\n")
        patterns = [b"p%d*" % i for i in range(3000)]
        client.send(encode_command("PSUBSCRIBE", *patterns))
        for _ in patterns:
            client.reply()
        hard = b"a" + b"*a" * 2000 + b"b"  # past glob's nesting limit: matches nothing, costs little
        client.send(encode_command("PSUBSCRIBE", hard))
        assert client.reply().endswith(b":3002\r\n")
        with RawClient(port) as publisher:
            assert publisher.command("PUBSUB", "NUMPAT") == b":3001\r\n"
            assert publisher.command("PUBLISH", huge, "m") == b":1\r\n"
            assert publisher.command("PUBLISH", "p17x", "m") == b":2\r\n"  # p1* and p17*
            assert publisher.command("PUBLISH", b"a" * 5000 + b"b", "m") == b":0\r\n"
        first = client.reply()
        assert first.startswith(b"*3\r\n$7\r\nmessage\r\n") and first.endswith(b"$1\r\nm\r\n")
        assert {client.reply(), client.reply()} == {
            b"*4\r\n$8\r\npmessage\r\n$3\r\np1*\r\n$4\r\np17x\r\n$1\r\nm\r\n",
            b"*4\r\n$8\r\npmessage\r\n$4\r\np17*\r\n$4\r\np17x\r\n$1\r\nm\r\n",
        }
        with RawClient(port) as other:
            stats = other.command("INFO", "stats")
            assert b"pubsub_channels:1\r\n" in stats and b"pubsub_patterns:3001\r\n" in stats
    with RawClient(port) as client:  # the subscriptions went with the connection
        assert client.command("PUBSUB", "NUMPAT") == b":0\r\n"
        assert b"pubsub_patterns:0\r\n" in client.command("INFO", "stats")


async def test_huge_channels_and_many_patterns(port):
    await trio.to_thread.run_sync(_hostile, port)


def _never_reads(port: int) -> bool:
    """A subscriber that never reads is closed once the unsent messages pass the pubsub class's limit."""
    with RawClient(port) as admin:
        assert admin.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 0 0") == b"+OK\r\n"
    sleeper = RawClient(port)
    sleeper.sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4096)
    sleeper.send(encode_command("SUBSCRIBE", "flood"))
    with RawClient(port) as publisher:
        message = b"x" * 65536
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            publisher.send(encode_command("PUBLISH", "flood", message))
            if publisher.reply() == b":0\r\n":
                break  # the subscriber is gone
        else:
            return False
        info = publisher.command("INFO", "stats")
    sleeper.close()
    return b"client_output_buffer_limit_disconnections:1" in info


async def test_subscriber_that_never_reads_is_closed(port):
    assert await trio.to_thread.run_sync(_never_reads, port)


# --- randomized: subscription bookkeeping against the oracle ---------------------------------------
_NAMES = ["a", "b", "c*", "?", "[ab]", ""]
_OPS = ["SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE"]


def _random_lines(rng, count: int) -> list[list[str]]:
    """Named (un)subscribes only: without names Redis answers in its hash order."""
    lines = []
    for _ in range(count):
        pick = rng.random()
        if pick < 0.75:
            lines.append([rng.choice(_OPS), *rng.sample(_NAMES, rng.randint(1, 3))])
        elif pick < 0.85:
            lines.append(["PUBSUB", rng.choice(["NUMSUB", "SHARDNUMSUB"]), *rng.sample(_NAMES, rng.randint(0, 3))])
        elif pick < 0.95:
            lines.append(["PING"] if rng.random() < 0.5 else ["PUBSUB", "NUMPAT"])
        else:
            lines.append(["GET", "x"])
    return lines


def _replay_all(port: int, lines: list[list[str]], protocol: int) -> list[bytes]:
    """Every reply, read until a final PING's (a command may answer several times)."""
    with RawClient(port) as client:
        client.command("FLUSHALL")
        if protocol == 3:
            client.command("HELLO", "3")
        client.send(b"".join(encode_command(*args) for args in lines) + encode_command("RESET"))
        replies = []
        while not replies or replies[-1] != b"+RESET\r\n":
            replies.append(client.reply())
        return replies


@pytest.mark.parametrize("protocol", [2, 3])
async def test_random_subscriptions_as_redis(port, oracle_port, protocol):
    seed = int(os.environ.get("PUBSUB_SEED", random.randrange(1 << 32)))  # replay: PUBSUB_SEED=<seed>
    print(f"PUBSUB_SEED={seed}")
    rng = random.Random(seed)
    for _ in range(20):
        lines = _random_lines(rng, 40)
        theirs = await trio.to_thread.run_sync(_replay_all, oracle_port, lines, protocol)
        ours = await trio.to_thread.run_sync(_replay_all, port, lines, protocol)
        assert ours == theirs, f"seed {seed}: {lines}"


def _kill_by_type(port: int) -> None:
    with RawClient(port) as subscriber, RawClient(port) as admin:
        subscriber.command("SUBSCRIBE", "c")
        assert admin.command("CLIENT", "KILL", "TYPE", "normal") == b":0\r\n"  # admin skips itself
        assert admin.command("CLIENT", "KILL", "TYPE", "pubsub") == b":1\r\n"
        assert subscriber.read_until_eof() == b""
        assert admin.command("PUBSUB", "NUMSUB", "c") == b"*2\r\n$1\r\nc\r\n:0\r\n"


async def test_client_kill_type_pubsub(port):
    await trio.to_thread.run_sync(_kill_by_type, port)


# --- the registry alone ------------------------------------------------------------------------------
def test_registry_delivers_encoded_once_and_ignores_forged_payloads():
    from frontends.resp.pubsub import PUBLISH, Subscribers, Subscriptions, published_payload
    from frontends.resp.session import Session

    registry = Subscribers()
    inbox: dict[int, list[bytes]] = {2: [], 3: []}
    subs = {}
    for protocol in (2, 3):
        session = Session(id=protocol, protocol=protocol)
        subs[protocol] = Subscriptions(session, inbox[protocol].append)
        registry.subscribe(subs[protocol], b"ch")
        registry.psubscribe(subs[protocol], b"c*")
    registry.deliver(published_payload(PUBLISH, b"ch", b"hi"))
    for bad in (b"", b"\x93", b"\x92\xc4\x01p\xc4\x01c", b"\xc1"):  # not a [kind, channel, message]
        registry.deliver(bad)
    assert inbox[2] == [
        b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n",
    ]
    assert inbox[3] == [
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n",
    ]
    assert registry.receivers(PUBLISH, b"ch") == 4 and registry.receivers(PUBLISH, b"cx") == 2
    for protocol in (2, 3):
        registry.drop(subs[protocol])
    assert not registry.channels and not registry.patterns and not registry.matchers
