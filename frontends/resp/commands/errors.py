"""The error texts every handler shares, in Redis 7.0's words (redis-cli and client
libraries match some of them), and the helpers that quote a client's bytes in them."""

from __future__ import annotations

from statemachines import ReplyError

SYNTAX = ReplyError("ERR syntax error")
NOT_INTEGER = ReplyError("ERR value is not an integer or out of range")
NOAUTH = ReplyError("NOAUTH Authentication required.")


def text(raw: bytes) -> str:
    """Client bytes for an error text: kept byte for byte (see replies.error_bytes)."""
    return raw.decode("utf-8", "surrogateescape")


def c_text(raw: bytes, limit: int) -> str:
    """As Redis' "%.*s" of an sds: cut at the first NUL and at `limit` bytes."""
    return text(raw.split(b"\0", 1)[0][:limit])


def unknown_command(args: list[bytes]) -> ReplyError:
    """Redis 7.0's text, quirks included: at most ~128 bytes of arguments are shown."""
    shown = ""
    for arg in args[1:]:
        if len(shown.encode("utf-8", "surrogateescape")) >= 128:
            break
        room = 128 - len(shown.encode("utf-8", "surrogateescape"))
        shown += f"'{c_text(arg, room)}' "
    return ReplyError(f"ERR unknown command '{c_text(args[0], 128)}', with args beginning with: {shown}")


def arity_error(name: str) -> ReplyError:
    return ReplyError(f"ERR wrong number of arguments for '{name}' command")


def unknown_subcommand(args: list[bytes]) -> ReplyError:
    return ReplyError(f"ERR unknown subcommand '{c_text(args[1], 128)}'. Try {c_text(args[0].upper(), 1 << 16)} HELP.")


BAD_NAME = ReplyError("ERR Client names cannot contain spaces, newlines or special characters.")
