"""kv's work is bounded by the data, never by a number the client chose (issue 10).

Finding 1: `SRANDMEMBER s -9223372036854775808` (and HRANDFIELD, ZRANDMEMBER) looped
range(-count): a follower grew ~30 MB/s until killed, and inside MULTI the command was a
log entry every replica hung on, again after a restart. Each call here runs in a forked
child with a generous deadline, so the old code fails the test instead of stalling it.
"""

from __future__ import annotations

import multiprocessing

import pytest

from replicator.transactions import EXEC_REPLY_TOO_LARGE, Transactions, encode_transaction
from statemachines import REPLY_BYTES_MAX, REPLY_ITEM_OVERHEAD, ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv.table import TABLE

HANG_S = 120  # a guard against hangs, not a speed assertion

RANGE_ERROR = ReplyError("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")


def _child(conn, fn, args) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as err:
        conn.send(("raised", repr(err)))


def bounded(fn, *args):
    """fn(*args) in a forked child: its result, or the test fails if it does not return in HANG_S."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, fn, args))
    proc.start()
    try:
        if not parent.poll(HANG_S):
            pytest.fail(f"{fn.__name__}{args!r} did not return within {HANG_S} s: a hang")
        status, value = parent.recv()
    finally:
        proc.kill()
        proc.join()
    assert status == "ok", value
    return value


def machine() -> KVMachine:
    kv = KVMachine()
    for index, args in enumerate([["SADD", "s", "a", "b", "c"], ["HSET", "h", "a", "1"], ["ZADD", "z", "1", "a"]], 1):
        kv.apply(index, encode_args([a.encode() for a in args]), 0)
    return kv


def query(*args: str):
    return machine().query(encode_args([a.encode() for a in args]), 0)


def in_multi(*args: str):
    """The command as the read of an EXEC: a log entry every replica applies."""
    kv = machine()
    entry = encode_transaction([("kv", encode_args([a.encode() for a in args]), False)])
    return Transactions({"kv": kv}).apply(10, entry, 0)[0]


def too_large(count: int) -> ReplyError:
    return ReplyError(
        f"ERR value is out of range: a reply of {count} elements would exceed the reply limit "
        f"of {REPLY_BYTES_MAX} bytes"
    )


@pytest.mark.parametrize("run", [query, in_multi])
@pytest.mark.parametrize(
    "command, want",
    [
        (("SRANDMEMBER", "s", "-9223372036854775808"), RANGE_ERROR),
        (("HRANDFIELD", "h", "-9223372036854775808"), RANGE_ERROR),
        (("ZRANDMEMBER", "z", "-9223372036854775808", "WITHSCORES"), RANGE_ERROR),
        (("SRANDMEMBER", "s", "-9223372036854775807"), too_large(9223372036854775807)),
        (("HRANDFIELD", "h", "-9223372036854775807"), too_large(9223372036854775807)),
        (("ZRANDMEMBER", "z", "-9223372036854775807"), too_large(9223372036854775807)),
        (("SRANDMEMBER", "s", "-4611686018427387904"), too_large(4611686018427387904)),
        (("HRANDFIELD", "h", "-4611686018427387905", "WITHVALUES"), ReplyError("ERR value is out of range")),
        (("ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"), too_large(4611686018427387904)),
    ],
)
def test_negative_counts_are_refused_not_spun(run, command, want):
    assert bounded(run, *command) == want


def test_the_reply_limit_counts_the_largest_element():
    """-count repeats are allowed up to REPLY_BYTES_MAX of reply, estimated from the largest member."""
    kv = KVMachine()
    big = b"x" * (1 << 20)
    kv.apply(1, encode_args([b"SADD", b"s", b"a", big]), 0)
    fits = REPLY_BYTES_MAX // (len(big) + REPLY_ITEM_OVERHEAD)
    reply = kv.query(encode_args([b"SRANDMEMBER", b"s", b"-%d" % fits]), 0)
    assert isinstance(reply, list) and len(reply) == fits
    assert kv.query(encode_args([b"SRANDMEMBER", b"s", b"-%d" % (fits + 1)]), 0) == too_large(fits + 1)
    small = KVMachine()
    small.apply(1, encode_args([b"SADD", b"s", b"a"]), 0)
    assert len(small.query(encode_args([b"SRANDMEMBER", b"s", b"-100000"]), 0)) == 100000


@pytest.mark.parametrize("name", ["srandmember", "hrandfield", "zrandmember"])
def test_the_check_refuses_int64_min_before_the_log(name):
    spec = next(cmd.spec for cmd in TABLE if cmd.spec.name == name)
    assert spec.check([name.encode(), b"k", b"-9223372036854775808"]) == RANGE_ERROR


def _pop_everything():
    kv = machine()
    kv.apply(4, encode_args([b"RPUSH", b"l", b"a"]), 0)
    for command in (
        ["SPOP", "s", "9223372036854775807"],
        ["LPOP", "nokey", "9223372036854775807"],
        ["ZPOPMIN", "z", "9223372036854775807"],
        ["LMPOP", "1", "l", "LEFT", "COUNT", "9223372036854775807"],
    ):
        kv.apply(5, encode_args([a.encode() for a in command]), 0)
    return kv.query(encode_args([b"EXISTS", b"s", b"z", b"l"]), 0)


def test_spop_and_pops_are_bounded_by_the_collection():
    assert bounded(_pop_everything) == 0


def _big_transaction():
    """200 reads of ~17 MB each, then a write, as one EXEC entry."""
    kv = machine()
    read = encode_args([b"SRANDMEMBER", b"s", b"-1000000"])
    steps = [("kv", read, False)] * 200 + [("kv", encode_args([b"SET", b"after", b"1"]), True)]
    results = Transactions({"kv": kv}).apply(10, encode_transaction(steps), 0)
    ran = sum(1 for r in results[:-1] if isinstance(r, list))
    return (
        ran,
        results[ran:-1] == [EXEC_REPLY_TOO_LARGE] * (200 - ran),
        results[-1],
        kv.query(encode_args([b"GET", b"after"]), 0),
    )


def test_a_transaction_stops_running_reads_past_the_reply_limit():
    """Every replica runs an EXEC's reads (and again after a restart): their sum is bounded too."""
    ran, rest_refused, write, after = bounded(_big_transaction)
    assert ran == REPLY_BYTES_MAX // (1_000_000 * (1 + REPLY_ITEM_OVERHEAD)) + 1
    assert rest_refused and write == "OK" and after == b"1"


@pytest.mark.parametrize("command", ["SCAN", "SSCAN s", "HSCAN h", "ZSCAN z"])
def test_scan_count_near_int64_max_past_the_first_call(command):
    """Found by the RESP fuzzer: a cursor >= 1 with COUNT 2^63-1 passed cursor + count,
    beyond sys.maxsize, to islice (ValueError, answered as a state machine error)."""
    kv = machine()
    for i in range(200):  # past SMALL_MAX, so the walk is taken in steps
        kv.apply(10 + i, encode_args([b"SADD", b"s", b"m%d" % i]), 0)
        kv.apply(10 + i, encode_args([b"HSET", b"h", b"f%d" % i, b"v"]), 0)
        kv.apply(10 + i, encode_args([b"ZADD", b"z", b"%d" % i, b"m%d" % i]), 0)
    for cursor in (b"1", b"150", b"9223372036854775807"):
        words = [w.encode() for w in command.split()]
        result = kv.query(encode_args([*words, cursor, b"COUNT", b"9223372036854775807"]), 0)
        assert type(result) is list and len(result) == 2, result
