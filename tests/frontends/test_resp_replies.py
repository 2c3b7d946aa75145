"""Reply encoding, RESP2 and RESP3, byte for byte."""

from __future__ import annotations

import pytest

from frontends.resp.replies import NULL_ARRAY, RespSet, Verbatim, encode, error_bytes
from statemachines import ReplyError

CASES = [
    # value, RESP2, RESP3
    (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    ("OK", b"+OK\r\n", b"+OK\r\n"),
    ("PONG", b"+PONG\r\n", b"+PONG\r\n"),
    ("two\r\nlines", b"+two  lines\r\n", b"+two  lines\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-(2**63), b":-9223372036854775808\r\n", b":-9223372036854775808\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
    (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
    (float("-inf"), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    (
        [b"a", None, 1, [b"b"]],
        b"*4\r\n$1\r\na\r\n$-1\r\n:1\r\n*1\r\n$1\r\nb\r\n",
        b"*4\r\n$1\r\na\r\n_\r\n:1\r\n*1\r\n$1\r\nb\r\n",
    ),
    ((b"t",), b"*1\r\n$1\r\nt\r\n", b"*1\r\n$1\r\nt\r\n"),
    (
        {b"k": 1, b"m": [b"x"]},
        b"*4\r\n$1\r\nk\r\n:1\r\n$1\r\nm\r\n*1\r\n$1\r\nx\r\n",
        b"%2\r\n$1\r\nk\r\n:1\r\n$1\r\nm\r\n*1\r\n$1\r\nx\r\n",
    ),
    (RespSet(["write", "fast"]), b"*2\r\n+write\r\n+fast\r\n", b"~2\r\n+write\r\n+fast\r\n"),
    (Verbatim(b"# Server\r\n"), b"$10\r\n# Server\r\n\r\n", b"=14\r\ntxt:# Server\r\n\r\n"),
    (ReplyError("ERR bad thing"), b"-ERR bad thing\r\n", b"-ERR bad thing\r\n"),
    (ReplyError("WRONGTYPE x\r\ny"), b"-WRONGTYPE x  y\r\n", b"-WRONGTYPE x  y\r\n"),
    ([ReplyError("ERR in array")], b"*1\r\n-ERR in array\r\n", b"*1\r\n-ERR in array\r\n"),
]


@pytest.mark.parametrize("value, resp2, resp3", CASES, ids=lambda v: repr(v)[:30])
def test_encoding(value, resp2, resp3):
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3


def test_big_bulk_is_appended_not_formatted():
    value = bytes(range(256)) * 1000
    assert encode(value) == b"$256000\r\n" + value + b"\r\n"


def test_error_bytes_keep_raw_client_bytes():
    # client bytes decoded with surrogateescape come back unchanged
    message = "ERR unknown command '" + b"\xff\xfe".decode("utf-8", "surrogateescape") + "'"
    assert error_bytes(message) == b"-ERR unknown command '\xff\xfe'\r\n"
    assert error_bytes("-ERR already prefixed") == b"-ERR already prefixed\r\n"
    assert error_bytes("ERR lone \ud800") == b"-ERR lone ?\r\n"


def test_unsupported_type_raises():
    with pytest.raises(TypeError):
        encode(object())
