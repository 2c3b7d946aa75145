"""Every command of the table with adversarial arguments (issue 10: no internal errors, bounded work).

The table is the one the server builds (kv, znodes and locks routed on one node, plus the
frontend's own commands), iterated as COMMAND does; each command, and each of its
subcommands, is sent with arguments drawn from extreme integers (+-2^63, 2^62, -1, 0),
floats that are not (nan, inf, 1e999999999), empty and binary strings, 100 KB strings,
runaway glob patterns, the command's own option words and keys of every type, with the
right arity and a wrong one. Machine commands are sent again inside MULTI/EXEC, where no
syntax check runs before the log, so apply sees them unchecked, as every replica would.

Asserted: no reply is an internal error (the frontend's "internal error" or a machine's
raise turned into "state machine error"), the node answers PING after every command, no
reply is larger than REPLY_BYTES_MAX plus what the client has stored, and at the end every
machine's state survives snapshot and restore and replaying the applied log on fresh
machines gives the same state (apply is deterministic, also on garbage). The node runs in
a child process (adversarial_node.py), so a hang fails the test through a socket timeout
(a generous guard against hangs, never a speed assertion) instead of stalling it.

Seeded: the seed is printed; FUZZ_SEED=<n> replays a run, FUZZ_CASES=<n> (per command)
makes it longer.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from resp_helpers import RawClient, encode_command

from frontends.resp.commands.entry import Command
from frontends.resp.commands.table import build_routed_table
from statemachines import REPLY_BYTES_MAX
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from statemachines.znodes import ZnodesMachine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HANG_S = 120  # no reply for this long is a hang, not a slow machine
CASES_PER_COMMAND = int(os.environ.get("FUZZ_CASES", "12"))

EXTREMES = [
    b"-9223372036854775808",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"-9223372036854775807",
    b"-4611686018427387904",
    b"4611686018427387904",
    b"-4611686018427387905",
    b"18446744073709551615",
    b"-1",
    b"0",
    b"1",
    b"2",
    b"536870911",
    b"536870912",
    b"-536870912",
    b"nan",
    b"inf",
    b"-inf",
    b"+inf",
    b"1e400",
    b"-1e400",
    b"1e999999999",
    b"1e-999999999",
    b"0x1p99999",
    b"1/3",
    b"1.5",
    b"(1",
    b"[a",
    b"(",
    b"[",
    b"-",
    b"+",
    b"",
    b"\x00",
    b"\xff\xfe\r\n*1\r\n",
    b" 1 ",
    b"9" * 5000,
    b"x" * 100_000,
    b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
    b"*?" * 2000,
    b"[^" * 1000,
    b"/",
    b"/zk",
    b"/zk/../x",
    b"//",
    b"/zk/",
    b"withscores",
    b"limit",
    b"count",
]
KEYS = [b"str", b"big", b"hash", b"list", b"set", b"zset", b"missing", b"/zk", b"lk", b"a" * 1000]
SETUP = [
    [b"FLUSHALL"],
    [b"SET", b"str", b"hello"],
    [b"SET", b"big", b"x" * 100_000],
    [b"SET", b"a" * 1000, b"1"],
    [b"HSET", b"hash", b"f", b"v", b"g", b"w"],
    [b"RPUSH", b"list", b"a", b"b", b"c", b"a"],
    [b"SADD", b"set", b"a", b"b", b"c"],
    [b"ZADD", b"zset", b"1", b"a", b"2", b"b", b"3", b"c"],
    [b"ZK.CREATE", b"/zk", b"data"],
    [b"LOCK.ACQUIRE", b"lk", b"owner", b"60000"],
]
# After each case: undo what would blunt the next ones (a password, a client limit, MULTI, RESP3).
RESTORE = [[b"CONFIG", b"SET", b"requirepass", b"", b"maxclients", b"10000"], [b"RESET"], [b"PING"]]
BAD_REPLIES = (b"internal error", b"state machine error")


def _seed() -> int:
    seed = int(os.environ.get("FUZZ_SEED", random.randrange(1 << 32)))
    print(f"FUZZ_SEED={seed}")
    return seed


def _table():
    machines = {"kv": KVMachine(), "znodes": ZnodesMachine(), "locks": LocksMachine()}
    return machines, build_routed_table({name: m.commands() for name, m in machines.items()})


def _commands(table) -> list[tuple[list[bytes], Command]]:
    """(the words naming it, the entry) for every command and subcommand, as COMMAND lists them."""
    out = []
    for cmd in table.commands:
        out.append(([cmd.name.encode()], cmd))
        for sub in cmd.subcommands.values():
            out.append(([part.encode() for part in sub.name.split("|")], sub))
    return out


def _arguments(rng: random.Random, words: list[bytes], cmd: Command) -> list[bytes]:
    options = [w.encode() for w in re.findall(r"\b[A-Z][A-Z]+\b", cmd.syntax)]
    arity = cmd.arity
    count = (arity if arity > 0 else -arity + rng.choice([0, 0, 1, 2, 3, 6])) - len(words)
    roll = rng.random()
    if roll < 0.08:
        count -= 1  # wrong arity
    elif roll < 0.12:
        count += 1
    args: list[bytes] = []
    for position in range(len(words), len(words) + max(count, 0)):
        is_key = cmd.first_key and position >= cmd.first_key and (cmd.last_key < 0 or position <= cmd.last_key)
        after_option = bool(args) and args[-1].upper() in options
        pick = rng.random()
        if is_key and pick < 0.6:
            args.append(rng.choice(KEYS))
        elif after_option and pick < 0.8:  # an option's value: where counts, offsets and TTLs go
            args.append(rng.choice(EXTREMES))
        elif options and pick < 0.45:
            args.append(rng.choice(options).lower() if rng.random() < 0.3 else rng.choice(options))
        elif pick < 0.55:
            args.append(rng.choice(KEYS))
        else:
            args.append(rng.choice(EXTREMES))
    return [*words, *args]


class Fuzzer:
    """A connection that sends cases, reconnecting whenever a command closes it (QUIT, CLIENT KILL)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client: RawClient | None = None
        self.sent_bytes = 0
        self.replies = 0

    def exchange(self, commands: list[list[bytes]], context: list[bytes], extra: int = 0) -> list[bytes]:
        """Send the commands pipelined; their replies (fewer if the connection was closed);
        `extra`: replies beyond one per command (SUBSCRIBE a b answers once per channel)."""
        if self.client is None:
            self.client = RawClient(self.port, timeout=HANG_S)
        data = b"".join(encode_command(*args) for args in commands)
        self.sent_bytes += len(data)
        replies = []
        try:
            self.client.send(data)
            for _ in range(len(commands) + extra):
                reply = self.client.reply()
                if not reply:
                    break
                replies.append(reply)
        except TimeoutError:
            pytest.fail(f"no reply within {HANG_S} s to {_show(context)}: a hang")
        except OSError:  # reset by a command that closes the connection
            pass
        if len(replies) < len(commands) + extra:
            self.client.close()
            self.client = None
        self.replies += len(replies)
        return replies

    def check(self, replies: list[bytes], context: list[bytes]) -> None:
        for reply in replies:
            for bad in BAD_REPLIES:
                assert bad not in reply, f"{_show(context)} -> {reply[:300]!r}"
            assert len(reply) <= REPLY_BYTES_MAX + 4 * self.sent_bytes, f"{_show(context)}: a {len(reply)}-byte reply"


def _show(args: list[bytes]) -> str:
    return " ".join(repr(a[:40]) + (f"(+{len(a) - 40} bytes)" if len(a) > 40 else "") for a in args)


_ONE_REPLY_PER_NAME = {b"subscribe", b"psubscribe", b"ssubscribe", b"unsubscribe", b"punsubscribe", b"sunsubscribe"}


def _extra_replies(args: list[bytes]) -> int:
    """(P|S)(UN)SUBSCRIBE answer once per name given (a refusal, or no name, once); CLIENT REPLY
    OFF and SKIP answer nothing, and silence RESTORE's CONFIG SET too (its RESET ends them)."""
    if args[0].lower() in _ONE_REPLY_PER_NAME and len(args) > 2:
        return len(args) - 2
    if [arg.lower() for arg in args[:2]] == [b"client", b"reply"] and len(args) == 3:
        return -2 if args[2].lower() in (b"off", b"skip") else 0
    return 0


# CLIENT PAUSE ... ALL holds every later command of every client, CLIENT UNPAUSE included, until
# its timeout (Redis does the same): a fuzzer sending it with a huge timeout would only wait.
_NOT_FUZZED = {"client|pause"}


def _may_wait(cmd: Command, args: list[bytes]) -> bool:
    """Whether a blocking command would reach the node, where it may wait (its checks pass)."""
    n = len(args)
    if n != cmd.arity and (cmd.arity > 0 or n < -cmd.arity):
        return False
    return cmd.check is None or cmd.check(args) is None


def _fuzz(port: int, seed: int) -> int:
    rng = random.Random(seed)
    _, table = _table()
    commands = _commands(table)
    fuzzer = Fuzzer(port)
    fuzzer.exchange(SETUP, [b"setup"])
    cases = 0
    for round_ in range(CASES_PER_COMMAND):
        rng.shuffle(commands)
        for words, cmd in commands:
            if cmd.name in _NOT_FUZZED:
                continue
            args = _arguments(rng, words, cmd)
            batch = [args]
            if "blocking" in cmd.flags and _may_wait(cmd, args):
                batch = []  # it could wait for years: sent inside MULTI only, where it never waits
            if cmd.handler is None:  # a machine command: once more inside MULTI, checked by apply only
                batch += [[b"MULTI"], args, [b"EXEC"]]
            extra = _extra_replies(args)
            replies = fuzzer.exchange(batch + RESTORE, args, extra)
            fuzzer.check(replies, args)
            if len(replies) == len(batch) + len(RESTORE) + extra and batch:
                assert replies[-1] == b"+PONG\r\n", f"{_show(args)}: PING answered {replies[-1][:100]!r}"
            else:  # the command closed the connection: the node must still answer a new one
                assert fuzzer.exchange(RESTORE, [b"PING after", *args])[-1:] == [b"+PONG\r\n"]
            cases += 1
        fuzzer.exchange(SETUP, [b"setup"])
    return cases


def test_every_command_with_adversarial_arguments():
    seed = _seed()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]))
    node = subprocess.Popen(
        [sys.executable, str(HERE / "adversarial_node.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        text=True,
    )
    try:
        port = int(node.stdout.readline())
        cases = _fuzz(port, seed)
        print(f"{cases} cases")
        assert cases >= CASES_PER_COMMAND * (len(_commands(_table()[1])) - len(_NOT_FUZZED))
        verdict, _ = node.communicate("check\n", timeout=HANG_S)
        assert verdict.strip() == "OK", verdict
    finally:
        node.kill()  # a node stuck in a hang (the test has failed already) goes too
        node.wait()
