"""The linearizability checker and the registers machine, on hand-written histories."""

from __future__ import annotations

from replicator.sim import registers as reg
from replicator.sim.history import CAS, PUT, READ, Op, check_history, check_key

K = b"k"


def op(i, kind, invoke, response, result=None, arg=None, expected=None, client=1):
    return Op(i, client, kind, K, arg=arg, expected=expected, invoke=invoke, response=response, result=result)


def test_sequential_history_is_linearizable():
    h = [
        op(0, PUT, 1, 2, None, b"a"),
        op(1, READ, 3, 4, b"a"),
        op(2, CAS, 5, 6, (True, b"a"), b"b", b"a"),
        op(3, CAS, 7, 8, (False, b"b"), b"c", b"a"),
        op(4, READ, 9, 10, b"b"),
    ]
    assert check_history(h).ok


def test_stale_read_is_caught():
    h = [op(0, PUT, 1, 2, None, b"a"), op(1, PUT, 3, 4, b"a", b"b"), op(2, READ, 5, 6, b"a")]
    res = check_history(h)
    assert not res.ok
    assert "not linearizable" in res.explain()


def test_concurrent_ops_may_be_reordered():
    # put b overlaps the read: the read may see a or b.
    h = [op(0, PUT, 1, 2, None, b"a"), op(1, PUT, 3, 6, b"a", b"b", client=2), op(2, READ, 4, 5, b"b")]
    assert check_history(h).ok
    h[2].result = b"a"
    assert check_history(h).ok
    h[2].result = b"zzz"
    assert not check_history(h).ok


def test_unknown_write_may_or_may_not_have_happened():
    unknown = op(0, PUT, 1, None, None, b"a")
    assert check_history([unknown, op(1, READ, 5, 6, b"a")]).ok  # it happened
    assert check_history([op(0, PUT, 1, None, None, b"a"), op(1, READ, 5, 6, None)]).ok  # it did not
    # but it cannot have happened before it was invoked
    assert not check_history([op(1, READ, 1, 2, b"a"), op(0, PUT, 3, None, None, b"a")]).ok


def test_an_unknown_cas_may_have_swapped_on_an_unknown_write_nobody_read():
    """Seed raft 292 (chaos): put a and cas a->b both end unknown, a is seen only by a read
    outside the history (sequential), and a later put finds b. Both unknown writes took
    effect; the checker must not prune the put because no op in the history read a."""
    h = [
        op(0, PUT, 1, 2, None, b"x"),
        op(1, PUT, 3, None, None, b"a"),
        op(2, CAS, 5, None, None, b"b", b"a", client=2),
        op(3, PUT, 7, 8, b"b", b"c", client=3),
    ]
    assert check_history(h).ok


def test_lost_acknowledged_write_is_caught():
    h = [op(0, PUT, 1, 2, None, b"a"), op(1, READ, 3, 4, None)]
    assert not check_history(h).ok


def test_write_applied_twice_is_caught():
    # put a, put b, then someone finds a again: a was re-applied after b.
    h = [op(0, PUT, 1, 2, None, b"a"), op(1, PUT, 3, 4, b"a", b"b"), op(2, PUT, 5, 6, b"a", b"c")]
    assert not check_history(h).ok


def test_cas_result_must_match_state():
    h = [op(0, PUT, 1, 2, None, b"a"), op(1, CAS, 3, 4, (True, b"a"), b"b", b"x")]
    assert not check_history(h).ok  # swapped although a != x


def test_keys_are_independent():
    a = Op(0, 1, PUT, b"a", arg=b"1", invoke=1, response=2, result=None)
    b = Op(1, 1, READ, b"b", invoke=3, response=4, result=None)
    assert check_history([a, b]).ok


def test_many_concurrent_unknowns_stay_fast():
    h = []
    for i in range(40):
        h.append(op(i, PUT, i * 2 + 1, None, None, f"v{i}".encode(), client=i))
    h.append(op(100, READ, 200, 201, b"v7"))
    h.append(op(101, READ, 202, 203, b"v3"))
    assert check_key(h).ok


def test_registers_machine_round_trip():
    m = reg.Registers()
    assert m.apply(1, reg.encode_put(b"k", b"v1"), 0) is None
    assert m.apply(2, reg.encode_cas(b"k", b"v1", b"v2"), 0) == [1, b"v1"]
    assert m.apply(3, reg.encode_cas(b"k", b"v1", b"v3"), 0) == [0, b"v2"]
    assert m.apply(4, reg.encode_put(b"k", b"v4"), 0) == b"v2"
    assert m.query(reg.encode_get(b"k"), 0) == b"v4"
    m2 = reg.Registers()
    m2.restore(m.snapshot())
    assert m2.state_bytes() == m.state_bytes()
    assert m2.query(reg.encode_get(b"k"), 0) == b"v4"
    m2.restore(())
    assert m2.query(reg.encode_get(b"k"), 0) is None
