"""Every built-in machine under the simulator's faults (sim.check_machine): replicas at the
same applied index hold byte-identical snapshots, whichever protocol replicates them.

The command generators mix every write a machine has, including the internal
expiry commands housekeeping proposes (with random, often stale, targets), so
the apply-time re-checks against ts_ms are exercised under crashes, snapshots
and partitions. A throwaway machine that reads a replica-local clock is caught.

CI runs a few seeds per machine and protocol; on demand, many more:
    SIM_MACHINE_SEEDS=500 pytest tests/statemachines/test_machines_under_faults.py -k kv
"""

from __future__ import annotations

import hashlib
import os
import random
import time

import pytest

from replicator.sim import check_machine
from replicator.transactions import encode_transaction
from statemachines import IN_DB, TRANSACTIONS, decode_args, encode_args
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from statemachines.znodes import ZnodesMachine

SEEDS = range(int(os.environ.get("SIM_MACHINE_SEEDS", "6")))


def _cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


_SCRIPTS = [
    "return redis.call('set', KEYS[1], math.random(1000) .. ':' .. ARGV[1])",
    "local t = redis.call('time') return redis.call('rpush', 'l0', t[1] .. t[2])",
    "redis.call('select', 2) return redis.call('incrby', KEYS[1], ARGV[1])",
    "redis.call('sadd', 's0', ARGV[1]) error('midway')",
]
_RUNAWAY = "redis.call('incr', KEYS[1]) while true do redis.call('hset', 'h0', math.random(5), 1) end"  # ~0.3 s
_SCRIPT_SHAS = [hashlib.sha1(script.encode()).hexdigest() for script in _SCRIPTS]
_LIBRARY = (  # functions: a random write, and a no-writes one
    "#!lua name=sim\n"
    "redis.register_function('bump', function(keys) return redis.call('incrby', keys[1], math.random(9)) end)\n"
    "redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end,"
    " flags={'no-writes'}}"
)
# FUNCTION DUMP of one library as redis-server 7.0 dumps it (its code LZF-compressed)
FUNCTIONS_DUMPED = (
    b"\xf5\xc3@g@q\x1f#!lua name=dumped\nredis.register\n_function('\x80\x1f\x02', \xe0\x00\x12\x0bkeys) return "
    b"\x06@7\ncall('rpush )\x02'l1 \x05@&\x08[1]) end)\n\x00\xc3\xbbe\xea\xce\x9fY\x80"
)


def kv_commands(rng: random.Random) -> bytes:
    """A kv write, one in three sent in another database (wrapped as the frontend wraps it)."""
    command = _kv_command(rng)
    if rng.random() < 0.33:
        return _cmd(IN_DB, rng.randrange(1, 4), *decode_args(command))
    return command


def _kv_command(rng: random.Random) -> bytes:
    key = f"k{rng.randrange(6)}"
    return rng.choice(
        [
            lambda: _cmd("MOVE", key, rng.randrange(4)),
            lambda: _cmd("COPY", key, f"k{rng.randrange(6)}", "DB", rng.randrange(4), "REPLACE"),
            lambda: _cmd("SWAPDB", rng.randrange(4), rng.randrange(4)),
            lambda: _cmd("FLUSHDB") if rng.random() < 0.1 else _cmd("DEL", key),
            lambda: _cmd("SET", key, rng.randrange(100)),
            lambda: _cmd("INCR", key),
            lambda: _cmd("PEXPIRE", key, rng.randint(1, 400)),
            lambda: _cmd("SET", key, "v", "PX", rng.randint(1, 400)),
            lambda: _cmd("DEL", key),
            lambda: _cmd("HSET", f"h{rng.randrange(3)}", f"f{rng.randrange(4)}", rng.randrange(9)),
            lambda: _cmd("RPUSH", f"l{rng.randrange(3)}", rng.randrange(9)),
            # blocking pops as applied (a pop, or nil), from a list, zset or key of another type
            lambda: _cmd(rng.choice(["BLPOP", "BRPOP"]), f"l{rng.randrange(3)}", key, rng.choice([0, 1.5])),
            lambda: _cmd("BLMOVE", f"l{rng.randrange(3)}", f"l{rng.randrange(3)}", "LEFT", "RIGHT", 0),
            lambda: _cmd("BRPOPLPUSH", f"l{rng.randrange(3)}", f"l{rng.randrange(3)}", 0),
            lambda: _cmd("BLMPOP", 0, 2, key, f"l{rng.randrange(3)}", "RIGHT", "COUNT", rng.randrange(1, 4)),
            lambda: _cmd(rng.choice(["BZPOPMIN", "BZPOPMAX"]), key, f"z{rng.randrange(3)}", 0),
            lambda: _cmd("BZMPOP", 0.1, 1, f"z{rng.randrange(3)}", "MAX", "COUNT", 2),
            lambda: _cmd("ZADD", f"z{rng.randrange(3)}", rng.randrange(9), f"m{rng.randrange(4)}"),
            lambda: _cmd("SADD", f"s{rng.randrange(3)}", f"m{rng.randrange(6)}"),
            lambda: _cmd("__expired__", key),
            lambda: _cmd("SETBIT", f"b{rng.randrange(2)}", rng.randrange(64), rng.randrange(2)),
            lambda: _cmd("BITFIELD", f"b{rng.randrange(2)}", "INCRBY", "i5", rng.randrange(16), rng.randrange(-9, 9)),
            lambda: _cmd("BITOP", rng.choice(["AND", "OR", "XOR"]), f"b{rng.randrange(2)}", "b0", "b1"),
            lambda: _cmd("PFADD", f"p{rng.randrange(2)}", *(rng.randrange(50) for _ in range(rng.randrange(1, 5)))),
            lambda: _cmd("PFMERGE", f"p{rng.randrange(2)}", "p0", "p1"),
            lambda: _cmd("XADD", f"x{rng.randrange(2)}", "MAXLEN", "~", 20, "*", "f", rng.randrange(9)),
            lambda: _cmd("XADD", f"x{rng.randrange(2)}", f"{rng.randrange(1, 9)}-*", "f", "v"),
            lambda: _cmd("XGROUP", "CREATE", f"x{rng.randrange(2)}", f"g{rng.randrange(2)}", "0", "MKSTREAM"),
            # scripts: random, clock, a write in another database, a runaway stopped mid-way
            lambda: _cmd("EVAL", _SCRIPTS[rng.randrange(len(_SCRIPTS))], 1, key, rng.randrange(9)),
            lambda: _cmd("EVAL", _RUNAWAY if rng.random() < 0.05 else "return 1", 1, key),
            lambda: _cmd("SCRIPT", "LOAD", _SCRIPTS[rng.randrange(len(_SCRIPTS))]),
            lambda: _cmd("EVALSHA", _SCRIPT_SHAS[rng.randrange(len(_SCRIPTS))], 1, key, rng.randrange(9)),
            lambda: _cmd("FUNCTION", "LOAD", "REPLACE", _LIBRARY),
            lambda: _cmd("FUNCTION", "DELETE", "sim") if rng.random() < 0.2 else _cmd("FCALL", "bump", 1, key),
            lambda: _cmd("FCALL", rng.choice(["peek", "dumped"]), 1, key),
            lambda: _cmd("FUNCTION", "RESTORE", FUNCTIONS_DUMPED, rng.choice(["FLUSH", "APPEND", "REPLACE"])),
            lambda: _cmd(
                "XREADGROUP",
                "GROUP",
                f"g{rng.randrange(2)}",
                f"c{rng.randrange(2)}",
                "COUNT",
                3,
                "STREAMS",
                f"x{rng.randrange(2)}",
                ">",
            ),
            lambda: _cmd("XAUTOCLAIM", f"x{rng.randrange(2)}", f"g{rng.randrange(2)}", "c9", rng.randrange(100), "0"),
            lambda: _cmd("XACK", f"x{rng.randrange(2)}", f"g{rng.randrange(2)}", f"{rng.randrange(1, 9)}-0"),
            lambda: _cmd("XTRIM", f"x{rng.randrange(2)}", "MINID", f"{rng.randrange(1, 9)}"),
            lambda: _cmd("SORT", f"l{rng.randrange(3)}", "ALPHA", "STORE", f"l{rng.randrange(3)}"),
            lambda: _cmd("GEOADD", "g", rng.uniform(-180, 180), rng.uniform(-85, 85), f"m{rng.randrange(5)}"),
            lambda: _cmd("GEOSEARCHSTORE", "g2", "g", "FROMLONLAT", 0, 0, "BYRADIUS", 9000, "km", "STOREDIST"),
            lambda: _cmd("RESTORE", f"r{rng.randrange(2)}", rng.choice([0, 300]), DUMPED, "REPLACE"),
        ]
    )()


# DUMP of a two-element list in Redis 7.0's format (a quicklist of one listpack node), as redis-server dumps it
DUMPED = b"\x12\x01\x02\r\r\x00\x00\x00\x02\x00\x81a\x02\x81b\x02\xff\n\x00h\xeb\n\x89\x13A\xbb\xb1"


def znodes_commands(rng: random.Random) -> bytes:
    path = rng.choice(["/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/q"])
    sid = rng.randrange(1, 400)  # session ids are log indexes: some of these name real sessions
    return rng.choice(
        [
            lambda: _cmd("ZK.CREATE", path, rng.randrange(99)),
            lambda: _cmd("ZK.CREATE", path, "e", "EPHEMERAL", "SESSION", sid),
            lambda: _cmd("ZK.CREATE", path + "-", "s", "SEQUENTIAL"),
            lambda: _cmd("ZK.SET", path, rng.randrange(99), "VERSION", rng.randrange(-1, 3)),
            lambda: _cmd("ZK.DELETE", path),
            lambda: _cmd("ZK.SESSION.OPEN", rng.randint(20, 500)),
            lambda: _cmd("ZK.SESSION.PING", sid),
            lambda: _cmd("ZK.SESSION.CLOSE", sid),
            lambda: _cmd("ZK.SESSION.EXPIRE", sid, rng.randrange(1, 400)),
        ]
    )()


def locks_commands(rng: random.Random) -> bytes:
    name, owner, token = f"l{rng.randrange(4)}", f"o{rng.randrange(3)}", rng.randrange(400)
    return rng.choice(
        [
            lambda: _cmd("LOCK.ACQUIRE", name, owner, rng.randint(20, 800)),
            lambda: _cmd("LOCK.RENEW", name, owner, token, rng.randint(20, 800)),
            lambda: _cmd("LOCK.RELEASE", name, owner, token),
            lambda: _cmd("LOCK.EXPIRE", name),
        ]
    )()


@pytest.mark.parametrize("protocol", ["raft", "zab"])
@pytest.mark.parametrize(
    "factory,commands",
    [
        pytest.param(KVMachine, kv_commands, id="kv"),
        pytest.param(ZnodesMachine, znodes_commands, id="znodes"),
        pytest.param(LocksMachine, locks_commands, id="locks"),
    ],
)
def test_builtin_machine_stays_identical_under_faults(factory, commands, protocol):
    failures = check_machine(factory, commands, seeds=SEEDS, protocol=protocol)
    assert failures == [], "\n\n".join(f.report(tail=20) for f in failures)


READS = {
    "kv": lambda rng: rng.choice(
        [
            _cmd("GET", f"k{rng.randrange(6)}"),
            _cmd("PTTL", f"k{rng.randrange(6)}"),
            _cmd("LRANGE", f"l{rng.randrange(3)}", 0, -1),
            _cmd("DBSIZE"),
        ]
    ),
    "znodes": lambda rng: _cmd(rng.choice(["ZK.GET", "ZK.CHILDREN", "ZK.STAT"]), rng.choice(["/a", "/b", "/a/x"])),
    "locks": lambda rng: _cmd("LOCK.HOLDER", f"l{rng.randrange(4)}"),
}


def in_transactions(name: str, writes):
    """Transactions of the machine's writes and reads (and, for kv, watches with guessed versions)."""

    def commands(rng: random.Random) -> bytes:
        steps = [
            (name, writes(rng), True) if rng.random() < 0.6 else (name, READS[name](rng), False)
            for _ in range(rng.randint(1, 4))
        ]
        watches = []
        if name == "kv" and rng.random() < 0.3:
            watches.append(("kv", b"k%d" % rng.randrange(6), rng.randrange(40), rng.random() < 0.5))
        return encode_transaction(steps, watches)

    return commands


@pytest.mark.parametrize(
    "factory,commands",
    [
        pytest.param(KVMachine, kv_commands, id="kv"),
        pytest.param(ZnodesMachine, znodes_commands, id="znodes"),
        pytest.param(LocksMachine, locks_commands, id="locks"),
    ],
)
def test_builtin_machine_stays_identical_inside_transactions(factory, commands):
    """MULTI/EXEC entries: reads run at apply time, watches checked, all at one index."""
    failures = check_machine(factory, in_transactions(factory.name, commands), seeds=SEEDS[:3], target=TRANSACTIONS)
    assert failures == [], "\n\n".join(f.report(tail=20) for f in failures)


class ClockLocks(LocksMachine):
    """Breaks the contract the way a real plugin might: the lease deadline comes from
    the replica's own clock instead of the entry's ts_ms."""

    name = "locks"

    def apply(self, index, command, ts_ms):
        return super().apply(index, command, time.monotonic_ns() // 1000)


def test_a_machine_reading_its_own_clock_is_caught():
    failures = check_machine(ClockLocks, locks_commands, seeds=range(3))
    assert failures and failures[0].kind == "StateMachineSafety", [f.report(5) for f in failures]


class WritingReads(KVMachine):
    """Breaks the query contract: a read leaves a trace in the state, chosen by the replica's
    clock. Harmless-looking outside transactions (check_machine proposes no reads); inside
    them every replica runs the read at apply time, and the replicas diverge."""

    name = "kv"

    def query(self, request, now_ms):
        self.keyspace.data[b"read-at-%d" % (time.monotonic_ns() % 3)] = b"x"
        return super().query(request, now_ms)


def test_a_query_that_changes_state_is_caught_inside_transactions():
    failures = check_machine(WritingReads, in_transactions("kv", kv_commands), seeds=range(3), target=TRANSACTIONS)
    assert failures and failures[0].kind == "StateMachineSafety", [f.report(5) for f in failures]
