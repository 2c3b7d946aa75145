"""Reply encoders: Result values -> RESP2 or RESP3 bytes.

    value               RESP2                      RESP3 (after HELLO 3)
    bytes               $<len> bulk string         same
    str                 +simple string             same
    int                 :integer                   same
    bool                :1 / :0                    #t / #f
    float               bulk "%.17g" (inf, -inf)   ,<double>
    RespDouble          bulk (its own text)        ,<its text>
    None                $-1 (nil)                  _
    list, tuple         *array                     same
    dict                *flat array k v k v        %map
    set, RespSet        *array                     ~set
    ReplyError          -<message>                 same
    Verbatim            bulk string                =<len> txt:...
    NULL_ARRAY          *-1                        _
    Push                *array                     >push (pub/sub messages, subscribe replies)
    Replies             its items back to back     same (SUBSCRIBE a b: one reply per channel)
    RawReply            its bytes as they are      same (a pub/sub message encoded once for all)

Error texts are sent as Redis does (addReplyError): CR and LF become spaces
so a message can never break the framing; the message starts with its code
("ERR ...", "WRONGTYPE ..."). Doubles use "%.17g", as Redis 7.0 does.

Encoders append to a caller's bytearray so a whole burst of replies is one
buffer and one send.
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachines import NULL_ARRAY as _NULL_ARRAY
from statemachines import ReplyError, RespDouble, RespSet  # RespSet is re-exported: COMMAND's replies use it


class Push(list):
    """An out-of-band RESP3 push (`>`); an array in RESP2, as Redis sends pub/sub messages."""

    __slots__ = ()


class Replies(list):
    """Several replies to one command, sent back to back (SUBSCRIBE a b: one per channel)."""

    __slots__ = ()


class RawReply(bytes):
    """A reply already encoded for the connection's protocol (a published message, encoded once)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Verbatim:
    """A verbatim string (RESP3 `=`); a plain bulk string in RESP2. INFO uses it."""

    text: bytes
    format: bytes = b"txt"


NULL_ARRAY = _NULL_ARRAY  # RESP2 *-1 (EXEC aborted, ...); RESP3 null (defined with the Result types)

_BIG_BULK_BYTES = 16 * 1024  # above this, append the payload instead of formatting a copy
_NEWLINES = str.maketrans("\r\n", "  ")


def error_bytes(message: str) -> bytes:
    """`-<message>\\r\\n` with CR/LF made spaces; lone surrogates (from raw client bytes) kept as bytes."""
    if message.startswith("-"):
        message = message[1:]
    text = message.translate(_NEWLINES)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return b"-" + raw + b"\r\n"


def _bulk(out: bytearray, value: bytes | bytearray | memoryview) -> None:
    size = len(value)
    if size < _BIG_BULK_BYTES:
        out += b"$%d\r\n%s\r\n" % (size, value)
    else:
        out += b"$%d\r\n" % size
        out += value
        out += b"\r\n"


def _simple(value: str) -> bytes:
    if value == "OK":
        return b"+OK\r\n"
    return b"+" + value.translate(_NEWLINES).encode("utf-8", "replace") + b"\r\n"


def _double_text(value: float) -> bytes:
    if value != value:
        return b"nan"
    if value in (float("inf"), float("-inf")):
        return b"inf" if value > 0 else b"-inf"
    return b"%.17g" % value


def encode_resp2(out: bytearray, value: object) -> None:
    """Append one RESP2 reply."""
    cls = value.__class__
    if cls is bytes:
        _bulk(out, value)
    elif cls is str:
        out += _simple(value)
    elif cls is int:
        out += b":%d\r\n" % value
    elif value is None:
        out += b"$-1\r\n"
    elif cls is list or cls is tuple:
        out += b"*%d\r\n" % len(value)
        for item in value:
            encode_resp2(out, item)
    elif cls is ReplyError:
        out += error_bytes(value.message)
    elif cls is bool:
        out += b":1\r\n" if value else b":0\r\n"
    elif cls is float:
        _bulk(out, _double_text(value))
    elif cls is dict:
        out += b"*%d\r\n" % (2 * len(value))
        for key, item in value.items():
            encode_resp2(out, key)
            encode_resp2(out, item)
    elif cls is RespSet or cls is set or cls is frozenset:
        out += b"*%d\r\n" % len(value)
        for item in value:
            encode_resp2(out, item)
    elif cls is Verbatim:
        _bulk(out, value.text)
    elif cls is RespDouble:
        _bulk(out, value)
    elif value is NULL_ARRAY:
        out += b"*-1\r\n"
    elif cls is Push:
        out += b"*%d\r\n" % len(value)
        for item in value:
            encode_resp2(out, item)
    elif cls is Replies:
        for item in value:
            encode_resp2(out, item)
    elif cls is RawReply:
        out += value
    elif cls is bytearray or cls is memoryview:
        _bulk(out, value)
    elif isinstance(value, int):  # IntEnum and other int subclasses
        out += b":%d\r\n" % value
    elif isinstance(value, str):
        out += _simple(str(value))
    else:
        raise TypeError(f"cannot encode {cls.__name__} as a reply")


def encode_resp3(out: bytearray, value: object) -> None:
    """Append one RESP3 reply."""
    cls = value.__class__
    if cls is bytes:
        _bulk(out, value)
    elif cls is str:
        out += _simple(value)
    elif cls is int:
        out += b":%d\r\n" % value
    elif value is None or value is NULL_ARRAY:
        out += b"_\r\n"
    elif cls is list or cls is tuple:
        out += b"*%d\r\n" % len(value)
        for item in value:
            encode_resp3(out, item)
    elif cls is ReplyError:
        out += error_bytes(value.message)
    elif cls is bool:
        out += b"#t\r\n" if value else b"#f\r\n"
    elif cls is float:
        out += b",%s\r\n" % _double_text(value)
    elif cls is dict:
        out += b"%%%d\r\n" % len(value)
        for key, item in value.items():
            encode_resp3(out, key)
            encode_resp3(out, item)
    elif cls is RespSet or cls is set or cls is frozenset:
        out += b"~%d\r\n" % len(value)
        for item in value:
            encode_resp3(out, item)
    elif cls is Verbatim:
        out += b"=%d\r\n%s:" % (len(value.text) + 4, value.format[:3].ljust(3))
        out += value.text
        out += b"\r\n"
    elif cls is RespDouble:
        out += b",%s\r\n" % value
    elif cls is Push:
        out += b">%d\r\n" % len(value)
        for item in value:
            encode_resp3(out, item)
    elif cls is Replies:
        for item in value:
            encode_resp3(out, item)
    elif cls is RawReply:
        out += value
    elif cls is bytearray or cls is memoryview:
        _bulk(out, value)
    elif isinstance(value, int):
        out += b":%d\r\n" % value
    elif isinstance(value, str):
        out += _simple(str(value))
    else:
        raise TypeError(f"cannot encode {cls.__name__} as a reply")


ENCODERS = {2: encode_resp2, 3: encode_resp3}


def encode(value: object, protocol: int = 2) -> bytes:
    """One reply as bytes (tests, one-off replies)."""
    out = bytearray()
    ENCODERS[protocol](out, value)
    return bytes(out)
