"""Redis ACL against redis-server 7.0: command categories (COMMAND INFO, ACL CAT), users and rules
(ACL SETUSER / GETUSER / LIST / DRYRUN ...), NOPERM texts; replies compared byte for byte.

Every case that creates users deletes them again at its end: the oracle is shared by every test."""

from __future__ import annotations

import hiredis
import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis, escaped_case_lines

CASES = {
    "acl-cat": """
        ACL CAT
        ACL CAT nosuch
        ACL CAT a b
        ACL GENPASS 1 2
        ACL LOG 1 2
        ACL HELP
    """,
    "setuser-getuser": """
        ACL SETUSER acl-t1
        ACL GETUSER acl-t1
        ACL SETUSER acl-t1 on >pw ~k* %R~r* %W~w* &ch +get
        ACL GETUSER acl-t1
        ACL SETUSER acl-t1 reset on nopass +@all -@dangerous allkeys allchannels
        ACL GETUSER acl-t1
        ACL SETUSER acl-t1 reset +@read -@all +@write
        ACL GETUSER acl-t1
        ACL SETUSER acl-t1 reset +@all -@write
        ACL GETUSER acl-t1
        ACL SETUSER acl-t1 resetpass #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 >other
        ACL GETUSER acl-t1
        ACL SETUSER acl-t1 <other !30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4
        ACL GETUSER acl-t1
        ACL SETUSER acl-t1 -@all +select|0
        ACL GETUSER acl-t1
        ACL GETUSER nosuchuser
        ACL USERS
        ACL LIST
        ACL DELUSER acl-t1 nosuchuser
        ACL USERS
    """,
    "setuser-errors": """
        ACL SETUSER acl-t2 nosuchrule
        ACL SETUSER acl-t2 +nosuchcommand
        ACL SETUSER acl-t2 +@nosuchcat
        ACL SETUSER acl-t2 -@nosuchcat
        ACL SETUSER acl-t2 <notapassword
        ACL SETUSER acl-t2 #abc
        ACL SETUSER acl-t2 !ABC
        ACL SETUSER acl-t2 allkeys ~foo
        ACL SETUSER acl-t2 allchannels &foo
        ACL SETUSER acl-t2 %X~foo
        ACL SETUSER acl-t2 %RR~foo
        ACL SETUSER acl-t2 +client|id|x
        ACL SETUSER acl-t2 +get|
        ACL SETUSER acl-t2 on +get nosuch
        ACL SETUSER "acl t2"
        ACL SETUSER acl-t2 "~a\\x85b" "&\\xa0" "~\\x09x"
        ACL SETUSER "acl\\x0bt2"
        ACL USERS
        ACL DELUSER default
        ACL DELUSER
        ACL SETUSER
        ACL GETUSER
        ACL NOSUCH
        ACL GENPASS 0
        ACL GENPASS 4097
        ACL GENPASS x
        ACL LOG x
        ACL SAVE
        ACL LOAD
        ACL WHOAMI
    """,
    "dryrun": """
        ACL SETUSER acl-t3 on nopass ~k* &ch +get +set +publish
        ACL DRYRUN acl-t3 get k1
        ACL DRYRUN acl-t3 get z1
        ACL DRYRUN acl-t3 set k1 v
        ACL DRYRUN acl-t3 del k1
        ACL DRYRUN acl-t3 publish ch m
        ACL DRYRUN acl-t3 publish other m
        ACL DRYRUN acl-t3 get
        ACL DRYRUN acl-t3 nosuchcmd
        ACL DRYRUN nosuchuser get k
        ACL DELUSER acl-t3
    """,
    "default-user": """
        ACL SETUSER default -get
        GET k1
        MGET k1
        ACL SETUSER default +get
        GET k1
        ACL SETUSER default ~k*
        ACL SETUSER default resetkeys ~k*
        GET k1
        GET z1
        ACL SETUSER default allkeys
        GET z1
        ACL LIST
    """,
    "acl-in-multi": """
        MULTI
        ACL SETUSER acl-t6 on nopass +get
        ACL GETUSER acl-t6
        ACL SETUSER acl-t6 +nosuch
        ACL DELUSER default
        ACL WHOAMI
        EXEC
        ACL USERS
        MULTI
        ACL DELUSER acl-t6 nosuch
        EXEC
        ACL USERS
    """,
    "noperm": """
        ACL SETUSER acl-t4 on >secret ~k* %R~r* &ch +get +set +publish +subscribe +multi +exec +acl|whoami
        AUTH acl-t4 wrong
        AUTH nosuchuser secret
        AUTH acl-t4 secret
        ACL WHOAMI
        GET k1
        GET z1
        SET k1 v
        SET r1 v
        GET r1
        DEL k1
        PUBLISH other m
        PUBLISH ch m
        ACL LIST
        MULTI
        GET k1
        DEL k1
        EXEC
        AUTH default x
        ACL DELUSER acl-t4
    """,
}


case_lines = escaped_case_lines  # the follower runner (test_oracle_follower.py) takes it from here


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("protocol", [2, 3])
async def test_same_replies_as_redis(name, protocol, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol, parse=case_lines)


def _categories(port: int, names: list[str]) -> dict[str, list[bytes]]:
    """command or "container|sub" -> its categories as COMMAND INFO shows them (if a command there)."""
    out = {}
    with RawClient(port) as client:
        for name in names:
            reader = hiredis.Reader()
            reader.feed(client.command("COMMAND", "INFO", name))
            info = reader.gets()[0]
            if info is not None:
                for one in [info, *info[9]]:  # the command, then its subcommands
                    out[one[0].decode()] = one[6]
    return out


def _all_names(port: int) -> list[str]:
    with RawClient(port) as client:
        client.send(b"*2\r\n$7\r\nCOMMAND\r\n$4\r\nLIST\r\n")
        raw = client.reply()
    return [line.decode() for line in raw.split(b"\r\n")[1:] if line and line[:1] not in b"$*" and b"|" not in line]


async def test_every_command_has_redis_categories(port, oracle_port):
    """COMMAND INFO's categories of every command both servers have, subcommands included."""
    names = await trio.to_thread.run_sync(_all_names, port)
    ours = await trio.to_thread.run_sync(_categories, port, names)
    theirs = await trio.to_thread.run_sync(_categories, oracle_port, names)
    compared = [name for name in ours if name in theirs]
    assert len(compared) > 250
    bad = [f"{name}: redis {theirs[name]}, ours {ours[name]}" for name in compared if ours[name] != theirs[name]]
    assert not bad, "\n".join(bad)


RULE_WORDS = [
    "on",
    "off",
    "nopass",
    "resetpass",
    ">pw",
    ">other",
    "<pw",
    "#" + "a" * 64,
    "!" + "a" * 64,
    "#xyz",
    "+@all",
    "-@all",
    "allcommands",
    "nocommands",
    "+@read",
    "-@read",
    "+@write",
    "-@write",
    "+@string",
    "-@string",
    "+@hash",
    "+@dangerous",
    "-@dangerous",
    "+@admin",
    "-@keyspace",
    "+@connection",
    "-@pubsub",
    "+@list",
    "+@fast",
    "-@slow",
    "+@nosuch",
    "+get",
    "-get",
    "+set",
    "-set",
    "+client",
    "-client",
    "+client|id",
    "-client|id",
    "+select|0",
    "+config|get",
    "-config|set",
    "+nosuchcmd",
    "~k*",
    "~*",
    "%R~r*",
    "%W~w*",
    "%RW~x*",
    "%X~bad",
    "allkeys",
    "resetkeys",
    "&ch*",
    "&*",
    "allchannels",
    "resetchannels",
    "reset",
    "sanitize-payload",
    "skip-sanitize-payload",
    "bogus",
]  # the words ACL SETUSER takes, valid and not
PROBES = [
    "get k1",
    "get r1",
    "get w1",
    "get zz",
    "set k1 v",
    "set w1 v",
    "set r1 v",
    "hset k1 f v",
    "hget r1 f",
    "del k1",
    "client id",
    "client kill id 1",
    "client list",
    "select 0",
    "select 1",
    "config get x",
    "config set x y",
    "publish ch1 m",
    "publish other m",
    "subscribe ch1",
    "psubscribe ch*",
    "psubscribe c*",
    "flushall",
    "keys *",
    "info",
    "ping",
    "auth a b",
    "lpush k1 a",
    "mget k1 r1",
    "mset k1 a w1 b",
    *"""zunionstore w1 2 r1 k1|zunionstore k1 2 r1 w1|zunionstore k1 x r1|lmove r1 w1 left right|copy r1 w1
    |copy w1 r1|sort r1 store w1|sort r1 store r2|georadius r1 0 0 1 m store w1|exists w1 r1 k1|incr w1
    |incr k1|getdel r1|bitfield w1 set u8 0 1|bitfield w1 get u8 0|set w1 v get|eval x 2 r1 w1|eval x 1 k1
    |xread streams r1 w1 0 0|pfcount r1 w1""".replace("\n", "").split("|"),
]


def _random_rules(rng) -> list[str]:
    return [rng.choice(RULE_WORDS) for _ in range(rng.randint(1, 6))]


def _fuzz_lines(seed: int, users: int) -> list[list[str]]:
    import random

    rng = random.Random(seed)
    lines = []
    for _ in range(users):
        lines.append(["ACL", "SETUSER", "fz", *_random_rules(rng)])
        lines.append(["ACL", "SETUSER", "fz", *_random_rules(rng)])
        lines.append(["ACL", "GETUSER", "fz"])
        lines += [["ACL", "DRYRUN", "fz", *probe.split()] for probe in PROBES]
        lines.append(["ACL", "DELUSER", "fz"])
    return lines


def _without_commands(raw: bytes) -> bytes:
    """GETUSER's reply without its "commands" rule text (single commands' order is Redis' hash order)."""
    head, sep, rest = raw.partition(b"$8\r\ncommands\r\n")
    if not sep:
        return raw
    size_end = rest.index(b"\r\n")
    size = int(rest[1:size_end])
    return head + rest[size_end + 2 + size + 2 :]


async def test_random_rules_mean_what_they_mean_in_redis(port, oracle_port):
    """Random ACL SETUSER rule lists: the same refusals, flags, passwords, keys and channels, and
    the same DRYRUN verdict for every probe command (seed printed; ACL_SEED=n replays it)."""
    import os
    import random

    from resp_helpers import replay

    seed = int(os.environ.get("ACL_SEED", random.randrange(1 << 30)))
    print(f"ACL_SEED={seed}")
    lines = _fuzz_lines(seed, int(os.environ.get("ACL_USERS", 40)))
    theirs = await trio.to_thread.run_sync(replay, oracle_port, lines)
    ours = await trio.to_thread.run_sync(replay, port, lines)
    bad = [
        f"{' '.join(args)}: redis {want!r}, ours {got!r}"
        for args, want, got in zip(lines, theirs, ours)
        if (_without_commands(want) if args[1] == "GETUSER" else want)
        != (_without_commands(got) if args[1] == "GETUSER" else got)
    ]
    assert not bad, f"ACL_SEED={seed}\n" + "\n".join(bad[:20])


def _rules_changed_before_exec(port: int) -> list[bytes]:
    """A second connection changes the user's rules between its MULTI queue and its EXEC."""
    with RawClient(port) as admin, RawClient(port) as client:
        out = [admin.command("ACL", "SETUSER", "acl-t7", "on", ">pw", "+@all", "~*", "&*")]
        out.append(client.command("AUTH", "acl-t7", "pw"))
        out += [client.command(*args) for args in (["MULTI"], ["GET", "k1"], ["SET", "k1", "v"], ["PUBLISH", "c", "m"])]
        out.append(admin.command("ACL", "SETUSER", "acl-t7", "-set", "resetchannels"))
        out.append(client.command("EXEC"))
        out.append(admin.command("ACL", "DELUSER", "acl-t7"))
        return out


async def test_rules_changed_between_multi_and_exec_as_redis(port, oracle_port):
    theirs = await trio.to_thread.run_sync(_rules_changed_before_exec, oracle_port)
    ours = await trio.to_thread.run_sync(_rules_changed_before_exec, port)
    assert ours == theirs


GOOD_FILE = (
    b"user default on nopass ~* &* +@all\nuser alice on #" + b"a" * 64 + b" ~k* &ch -@all +@read\n\n  user bob off\n"
)
BAD_FILE = (
    b"user alice on +nosuchcommand +@read\nuser bob on badrule\nnotauser x\nuser\nuser alice on\n"
    b"user carol %X~k allkeys ~more\n"
)
NO_DEFAULT_FILE = b"user alice on nopass +get ~*\n"


def _aclfile_session(port: int, path) -> list[bytes]:
    """ACL LOAD / SAVE / LIST over the same file, rewritten between the steps."""
    out = []
    with RawClient(port) as client:
        for data in (GOOD_FILE, BAD_FILE, NO_DEFAULT_FILE, GOOD_FILE):
            path.write_bytes(data)
            out += [client.command("ACL", "LOAD"), client.command("ACL", "LIST")]
        out.append(client.command("CONFIG", "GET", "aclfile"))
        client.command("ACL", "SETUSER", "dave", "on", ">pw", "~d*", "+@string")
        out.append(client.command("ACL", "SAVE"))
        out.append(path.read_bytes())
        path.unlink()
        out.append(client.command("ACL", "LOAD").replace(str(path).encode(), b"PATH"))
        path.write_bytes(GOOD_FILE)
        out.append(client.command("ACL", "LOAD"))
    return out


def _save(port: int) -> bytes:
    with RawClient(port) as client:
        return client.command("ACL", "SAVE")


async def test_aclfile_load_and_save_as_redis(tmp_path, nursery):
    from functools import partial

    from fake_node import FakeNode
    from resp_helpers import real_redis

    from frontends.resp.server import serve_resp

    path = tmp_path / "users.acl"
    path.write_bytes(GOOD_FILE)
    with real_redis("--aclfile", str(path)) as oracle:
        if oracle is None:
            pytest.skip("redis-server is not installed")
        theirs = await trio.to_thread.run_sync(_aclfile_session, oracle, path)
    path.write_bytes(GOOD_FILE)
    node = FakeNode(batched=True)
    await nursery.start(node.run)
    port = await nursery.start(partial(serve_resp, node, "127.0.0.1", 0, aclfile=str(path)))
    ours = await trio.to_thread.run_sync(_aclfile_session, port, path)
    assert ours == theirs
    assert await trio.to_thread.run_sync(_save, port) == b"+OK\r\n"
    assert path.stat().st_mode & 0o777 == 0o600  # it holds password hashes
