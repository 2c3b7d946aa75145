"""The sans-I/O request parser: commands, every protocol error, any byte split.

The pure-Python parser (fast=False) is the reference; the hybrid with hiredis
(the default) must give identical results for every input and every way the
input is cut into receive_data() calls.
"""

from __future__ import annotations

import random

import pytest
from resp_helpers import encode_command

from frontends.resp.protocol import (
    NEED_DATA,
    CommandTooLarge,
    ProtocolError,
    RespConnection,
    split_args,
    string2ll,
    wire_size,
)


def parse(data: bytes, *, fast: bool = True, cuts: list[int] | None = None, **limits) -> list:
    """Feed data (cut at the given offsets), draining commands after each piece."""
    conn = RespConnection(fast=fast, **limits)
    out: list = []
    bounds = [0, *(cuts or []), len(data)]
    for start, end in zip(bounds, bounds[1:]):
        conn.receive_data(data[start:end])
        while (cmd := conn.next_command()) is not NEED_DATA:
            out.append(cmd)
            if isinstance(cmd, ProtocolError):
                assert conn.next_command() == cmd  # sticky
                return out
    return out


def all_ways(data: bytes, **limits) -> list:
    """Parse whole, byte by byte, and in random pieces, both parsers; all must agree."""
    rng = random.Random(len(data))
    results = []
    for fast in (True, False):
        results.append(parse(data, fast=fast, **limits))
        results.append(parse(data, fast=fast, cuts=list(range(1, len(data))), **limits))
        for _ in range(3):
            cuts = (
                sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6)))) if len(data) > 1 else []
            )
            results.append(parse(data, fast=fast, cuts=cuts, **limits))
    for result in results[1:]:
        assert result == results[0]
    return results[0]


PIPELINE = (
    encode_command("SET", "key", "value")
    + encode_command("GET", "key")
    + encode_command("MSET", "a", "", "b", "x" * 300)
    + b"PING\r\n"
    + encode_command("ECHO", "line\r\nbreak\n+PONG\r\n")
    + b"ECHO \"quoted \\x41\\n\" 'single \\' q'\r\n"
    + encode_command("SET", "bin", bytes(range(256)))
)
PIPELINE_COMMANDS = [
    [b"SET", b"key", b"value"],
    [b"GET", b"key"],
    [b"MSET", b"a", b"", b"b", b"x" * 300],
    [b"PING"],
    [b"ECHO", b"line\r\nbreak\n+PONG\r\n"],
    [b"ECHO", b"quoted A\n", b"single ' q"],
    [b"SET", b"bin", bytes(range(256))],
]


def test_pipeline_any_split():
    assert all_ways(PIPELINE) == PIPELINE_COMMANDS


def test_long_pipeline_with_big_values_in_small_chunks():
    commands = [[b"SET", b"k%d" % i, b"v" * (i * 37 % 5000)] for i in range(300)]
    data = b"".join(encode_command(*c) for c in commands)
    for chunk in (7, 1000, 4096, 65536):
        cuts = list(range(chunk, len(data), chunk))
        assert parse(data, cuts=cuts) == commands
        assert parse(data, cuts=cuts, fast=False) == commands


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"PING\r\n", [[b"PING"]]),
        (b"PING\n", [[b"PING"]]),
        (b"  set   a  b \r\n", [[b"set", b"a", b"b"]]),
        (b"\r\n\n  \r\nPING\r\n", [[b"PING"]]),  # empty lines are skipped
        (b"*0\r\n*-1\r\n*-7\r\nPING\r\n", [[b"PING"]]),  # counts <= 0 too
        (b"*1\rX$4\r\nPING\r\n", [[b"PING"]]),  # a line ends at CR, the next byte is skipped
        (b"*1\r\n$4\r\nPINGxx", [[b"PING"]]),  # so is a bulk's terminator
        (b"ECHO a\x00b\r\n", []),  # NUL hides the newline (strchr), as in Redis
        (b"*1\r\n$4\r\nPING\r\n*1\r\nx", [[b"PING"]]),
    ],
)
def test_commands(data, expected):
    assert all_ways(data) == expected


@pytest.mark.parametrize(
    "data, message",
    [
        (b"*x\r\n", "invalid multibulk length"),
        (b"*01\r\n", "invalid multibulk length"),
        (b"*+1\r\n", "invalid multibulk length"),
        (b"* 1\r\n", "invalid multibulk length"),
        (b"*2147483648\r\n", "invalid multibulk length"),
        (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
        (b"*1\r\n:1\r\n", "expected '$', got ':'"),
        (b"*1\r\n*1\r\n$1\r\na\r\n", "expected '$', got '*'"),
        (b"*2\r\n$1\r\na\r\n%1\r\n", "expected '$', got '%'"),
        (b"*1\r\n\r\r\n", "expected '$', got ' '"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\n$x\r\n", "invalid bulk length"),
        (b"*1\r\n$04\r\n", "invalid bulk length"),
        (b"*1\r\n$536870913\r\n", "invalid bulk length"),
        (b'PING "abc\r\n', "unbalanced quotes in request"),
        (b"PING 'abc\r\n", "unbalanced quotes in request"),
        (b'SET a "b"c\r\n', "unbalanced quotes in request"),
        (b"SET a 'b'c\r\n", "unbalanced quotes in request"),
        (b"x" * 65537, "too big inline request"),
        (b"*" + b"1" * 65536, "too big mbulk count string"),
        (b"*1\r\n$" + b"1" * 65536, "too big bulk count string"),
    ],
)
def test_protocol_errors(data, message):
    result = all_ways(data)
    assert result[-1] == ProtocolError(f"ERR Protocol error: {message}")


def test_commands_before_an_error_are_returned_first():
    data = encode_command("SET", "a", "1") + b"PING\r\n" + b"*1\r\n:7\r\n" + encode_command("GET", "a")
    assert all_ways(data) == [
        [b"SET", b"a", b"1"],
        [b"PING"],
        ProtocolError("ERR Protocol error: expected '$', got ':'"),
    ]


def test_limits_are_configurable():
    assert parse(b"*1\r\n$11\r\n", bulk_bytes_max=10)[-1] == ProtocolError("ERR Protocol error: invalid bulk length")
    assert parse(b"*1\r\n$10\r\n0123456789\r\n", bulk_bytes_max=10) == [[b"0123456789"]]
    assert parse(b"abcdefghijk", inline_bytes_max=10)[-1] == ProtocolError("ERR Protocol error: too big inline request")
    assert parse(b"abcdefghij", inline_bytes_max=10) == []


UNAUTH_MULTIBULK = ProtocolError("ERR Protocol error: unauthenticated multibulk length")
UNAUTH_BULK = ProtocolError("ERR Protocol error: unauthenticated bulk length")


@pytest.mark.parametrize("fast", [True, False])
def test_unauthenticated_limits_are_redis(fast):
    """Before AUTH, Redis refuses a count above 10 and a bulk above 16384 bytes (networking.c);
    the absolute limits come first; counts <= 0 are still skipped."""
    assert parse(b"*11\r\n", fast=fast, authenticated=False) == [UNAUTH_MULTIBULK]
    assert parse(b"*2000000000\r\n", fast=fast, authenticated=False) == [UNAUTH_MULTIBULK]
    assert parse(b"*3000000000\r\n", fast=fast, authenticated=False)[-1] == ProtocolError(
        "ERR Protocol error: invalid multibulk length"
    )
    assert parse(b"*1\r\n$16385\r\n", fast=fast, authenticated=False) == [UNAUTH_BULK]
    assert parse(b"*1\r\n$100000000\r\n", fast=fast, authenticated=False) == [UNAUTH_BULK]
    assert parse(b"*1\r\n$600000000\r\n", fast=fast, authenticated=False)[-1] == ProtocolError(
        "ERR Protocol error: invalid bulk length"
    )
    ten = encode_command("DEL", *"abcdefghi") + encode_command("SET", "k", "x" * 16384) + b"*-5\r\n*0\r\n"
    assert parse(ten, fast=fast, authenticated=False) == [
        [b"DEL", *(c.encode() for c in "abcdefghi")],
        [b"SET", b"k", b"x" * 16384],
    ]
    assert parse(b"*11\r\n", fast=fast) == []  # authenticated: waits for the elements


@pytest.mark.parametrize("fast", [True, False])
def test_unauthenticated_limits_follow_auth_between_commands(fast):
    """AUTH, then a big command in the same packet: parsed once AUTH took effect; RESET (no
    longer authenticated) brings the limits back for the commands after it, even buffered ones."""
    conn = RespConnection(fast=fast, authenticated=False)
    big = encode_command("SET", "k", "x" * 20000)
    conn.receive_data(encode_command("AUTH", "pw") + big + encode_command("RESET") + big)
    assert conn.next_command() == [b"AUTH", b"pw"]
    conn.set_authenticated(True)
    assert conn.next_command() == [b"SET", b"k", b"x" * 20000]
    assert conn.next_command() == [b"RESET"]
    conn.set_authenticated(False)
    assert conn.next_command() == UNAUTH_BULK


def test_query_buffer_is_bounded():
    conn = RespConnection(query_buffer_bytes_max=1000)
    conn.receive_data(b"*1\r\n$100000\r\n")
    assert conn.next_command() is NEED_DATA
    for _ in range(100):
        conn.receive_data(b"x" * 100)
        if conn.next_command() is not NEED_DATA:
            break
    assert conn.next_command() == ProtocolError("ERR Protocol error: query buffer limit exceeded")
    assert conn.buffered_bytes == 0


def test_a_huge_count_does_not_allocate():
    """hiredis-py preallocates aggregates: the guard keeps big counts away from it."""
    conn = RespConnection()
    conn.receive_data(b"*2000000000\r\n$4\r\nPING\r\n")
    assert conn.next_command() is NEED_DATA  # 2e9 <= INT_MAX: Redis waits as well
    assert conn.buffered_bytes < 100
    conn = RespConnection()
    conn.receive_data(encode_command("SET", "a", "1") + b"*1\r\n*3000000000\r\n")
    assert conn.next_command() == [b"SET", b"a", b"1"]
    assert conn.next_command() == ProtocolError("ERR Protocol error: expected '$', got '*'")


def test_big_value_arriving_slowly_is_linear():
    value = b"v" * 2_000_000
    data = encode_command("SET", "k", value)
    conn = RespConnection()
    for i in range(0, len(data), 1000):
        conn.receive_data(data[i : i + 1000])
        cmd = conn.next_command()
        if cmd is not NEED_DATA:
            break
    assert cmd == [b"SET", b"k", value]


def test_long_inline_line_byte_by_byte_is_linear():
    line = b"ECHO " + b"y" * 60000 + b"\r\n"
    conn = RespConnection()
    for i in range(len(line)):
        conn.receive_data(line[i : i + 1])
        cmd = conn.next_command()
    assert cmd == [b"ECHO", b"y" * 60000]


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"a b  c", [b"a", b"b", b"c"]),
        (b"", []),
        (b"   ", []),
        (b'"a b" c', [b"a b", b"c"]),
        (b'a"b c"', [b"ab c"]),
        (b'"\\x41\\x4a\\x4" "\\n\\r\\t\\b\\a\\q\\""', [b"AJx4", b'\n\r\t\x08\x07q"']),
        (b"'it\\'s' '\\n'", [b"it's", b"\\n"]),
        (b'""', [b""]),
        (b"a\x0bb", [b"a\x0bb"]),  # \v is not a token end, only leading space
        (b"\x0b a", [b"a"]),
        (b"a\x00b c", [b"a"]),  # a C string ends at NUL
        (b'"a"b', None),
        (b"'a'b", None),
        (b'"abc', None),
        (b"'abc", None),
        (b'"a\x00"', None),
        (b'"a"\x0bb', [b"a", b"b"]),  # \v after a closing quote is a space (isspace)
    ],
)
def test_split_args(line, expected):
    assert split_args(line) == expected


def test_string2ll():
    assert string2ll(b"0") == 0
    assert string2ll(b"-1") == -1
    assert string2ll(b"9223372036854775807") == 2**63 - 1
    assert string2ll(b"-9223372036854775808") == -(2**63)
    for bad in (b"", b"-", b"-0", b"01", b"+1", b" 1", b"1 ", b"1.0", b"9223372036854775808", b"\xd9\xa1"):
        assert string2ll(bad) is None, bad


def test_wire_size_is_the_canonical_encoding():
    for args in ([b"PING"], [b"SET", b"k" * 10, b"v" * 12345], [b""] * 11):
        assert wire_size(args) == len(encode_command(*args))


def _random_input(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(1, 12)):
        roll = rng.random()
        args = [
            bytes(rng.choice(b"ab\r\n+*$:0 \"'\\x") for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 4))
        ]
        if roll < 0.55:
            parts.append(encode_command(*args))
        elif roll < 0.75:
            parts.append(
                b" ".join(a.replace(b"\n", b"").replace(b"\r", b"") for a in args) + rng.choice([b"\r\n", b"\n"])
            )
        else:  # a damaged command: change, drop or insert one byte
            raw = bytearray(encode_command(*args))
            i = rng.randrange(len(raw))
            op = rng.random()
            if op < 0.4:
                raw[i] = rng.choice(b"*$+:-%~0123456789\r\nx")
            elif op < 0.7:
                del raw[i]
            else:
                raw.insert(i, rng.choice(b"*$+:\r\n9"))
            parts.append(bytes(raw))
    return b"".join(parts)


def test_hybrid_matches_reference_on_random_input():
    rng = random.Random(20240607)
    for _ in range(1500):
        data = _random_input(rng)
        reference = parse(data, fast=False)
        cuts = (
            sorted(set(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 5))))) if len(data) > 1 else []
        )
        assert parse(data) == reference, data
        assert parse(data, cuts=cuts) == reference, (data, cuts)
        assert parse(data, cuts=cuts, fast=False) == reference, (data, cuts)


@pytest.mark.parametrize("fast", [True, False])
def test_a_command_over_command_bytes_max_is_skipped_not_kept(fast):
    """A multibulk whose bulks pass command_bytes_max comes out as CommandTooLarge(total) once
    all of it went by, and the parser never holds much of it; the next command is parsed."""
    conn = RespConnection(fast=fast, command_bytes_max=1000)
    big = encode_command("SET", "k", "v" * 600, "x" * 600)
    data = encode_command("PING") + big + encode_command("GET", "k")
    out = []
    for i in range(0, len(data), 100):
        conn.receive_data(data[i : i + 100])
        assert conn.buffered_bytes <= 1000 + 200
        while (cmd := conn.next_command()) is not NEED_DATA:
            out.append(cmd)
    assert out == [[b"PING"], CommandTooLarge(3 + 1 + 600 + 600), [b"GET", b"k"]]
    whole = RespConnection(fast=fast, command_bytes_max=1000)
    whole.receive_data(data)
    assert [whole.next_command() for _ in range(3)] == out
    exact = RespConnection(fast=fast, command_bytes_max=1204)
    exact.receive_data(big)
    assert exact.next_command() == [b"SET", b"k", b"v" * 600, b"x" * 600]
