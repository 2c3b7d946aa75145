"""Sans-I/O parser of client requests (RESP multibulk and inline), h11 style.

    conn = RespConnection()
    conn.receive_data(data)             # bytes from the socket; buffers only
    while (cmd := conn.next_command()) is not NEED_DATA:
        if isinstance(cmd, ProtocolError): reply cmd.message, then close
        else: run cmd (a list[bytes], name first)

No I/O, no clock, no await. The behaviour is Redis 7.0's networking.c
(processInlineBuffer / processMultibulkBuffer), error texts included:

    ERR Protocol error: invalid multibulk length      ("*" count not an integer, > INT_MAX)
    ERR Protocol error: expected '$', got '<c>'        (an element that is not a bulk string)
    ERR Protocol error: invalid bulk length            (not an integer, < 0, > bulk_bytes_max)
    ERR Protocol error: unbalanced quotes in request   (inline)
    ERR Protocol error: too big inline request         (no newline within inline_bytes_max)
    ERR Protocol error: too big mbulk count string     (no CR within inline_bytes_max)
    ERR Protocol error: too big bulk count string
    ERR Protocol error: query buffer limit exceeded    (ours: Redis closes silently)
    ERR Protocol error: unauthenticated multibulk length  (before AUTH: a count above 10)
    ERR Protocol error: unauthenticated bulk length       (before AUTH: a bulk above 16384 bytes)

With `command_bytes_max`, a multibulk whose bulks add up to more is returned as
CommandTooLarge(size) once all of it has gone by: the parser stops keeping its
arguments as soon as they pass the limit and skips the rest of its bytes, so a
client cannot make it hold more than about that much (plus one received chunk)
by announcing a large value. Redis has no such limit; it keeps up to
client-query-buffer-limit.

Before AUTH (`authenticated=False`, set_authenticated() as it changes) a stranger
may not make the server wait for, and buffer, a large request: Redis 7's limits,
checked after the absolute ones, as in Redis. Only the exact parser runs then.

A count <= 0 (`*0`, `*-1`) and an empty inline line are skipped, as in Redis.
Like Redis, a line ends at the first CR (the next byte is skipped unread), a
bulk's trailing two bytes are skipped unread, and a NUL byte before the line
end hides it (Redis searches with strchr).

Theory of operation
-------------------
Two parsers share the work. The fast one is hiredis.Reader (C), about three
times faster on pipelines: it takes each received chunk whole and returns
commands. hiredis is laxer than Redis (it
accepts `+`, `:`, nested arrays ... as elements, and bounds nothing), so it
only runs where it cannot differ:

- a chunk goes to hiredis only at a command boundary whose next byte is `*`,
  and only if no LF in it is followed by one of `+ = ( | ! ~ >` (types that
  hiredis would return as bytes or as a list of bytes: they could pass for
  a multibulk) and no aggregate count has six digits or more (hiredis-py
  preallocates: `*2000000000` would cost gigabytes);
- each command it returns must be a non-empty list of bytes;
- when hiredis raises, returns anything else, or stops inside a command at the
  end of the data (a "stall"), the bytes from the last boundary are handed to
  the slow parser. Valid commands that hiredis returned have one canonical
  encoding, so their sizes locate that boundary without a copy of the work.

One difference is known and accepted: when a bulk's declared length is
wrong, both parsers skip the two bytes after it unread; if the next element
then starts with `+ = ( | !` mid-line (not after LF), Redis says "expected
'$'" but hiredis returns the element as a string. Only a client that sends
wrong bulk lengths can see it.

The slow parser is plain Python, resumable, exact and bounded; it finishes
the command in progress and then hands the rest back to hiredis (after a
stall), or keeps going until its buffer is empty (inline, anomalies).
`RespConnection(fast=False)` uses it alone: the reference the tests compare
the hybrid against on random inputs split at random points.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import hiredis

from statemachines.sdssplit import split_args

INT_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
BULK_BYTES_MAX = 512 * 1024 * 1024  # proto-max-bulk-len
INLINE_BYTES_MAX = 64 * 1024  # PROTO_INLINE_MAX_SIZE
QUERY_BUFFER_BYTES_MAX = 1024 * 1024 * 1024  # client-query-buffer-limit
COMPACT_BYTES_MIN = 64 * 1024
UNAUTHENTICATED_ELEMENTS_MAX = 10  # Redis networking.c: multibulk count before AUTH
UNAUTHENTICATED_BULK_BYTES_MAX = 16384  # Redis networking.c: bulk length before AUTH


class _Sentinel(type):
    def __repr__(cls) -> str:
        return cls.__name__


class NEED_DATA(metaclass=_Sentinel):
    """next_command(): no complete command buffered; call receive_data()."""


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The input broke the protocol: reply `-<message>` and close. Sticky."""

    message: str


@dataclass(frozen=True, slots=True)
class CommandTooLarge:
    """A well-formed command whose arguments total `size` bytes, above command_bytes_max:
    its bytes were skipped, not kept; refuse it and go on with the next command."""

    size: int


# What hiredis must never see: types it would return as bytes or as a list of
# bytes, so they could pass for a multibulk (`+` `=` `(` `|` `!` and, at the top
# level, the `~` set and `>` push), and aggregate counts of 100000 and more (hiredis-py
# preallocates the list: `*2000000000` would cost gigabytes to allocate and free).
# Every element starts a line, so the guard looks only after newlines (a regex with a
# literal first byte scans several times faster) and, at a clean boundary, at the start.
_GUARD = re.compile(rb"\n(?:[+=(|!~>]|[*~>%]-?[0-9]{6})")
_GUARD_HEAD = re.compile(rb"[*~>%]-?[0-9]{6}")
_GUARD_SPAN = 24  # bytes each side of a chunk boundary that the guard rechecks


def string2ll(raw: bytes | bytearray) -> int | None:
    """Redis' string2ll: optional '-', digits, no leading zero, no '+', in int64."""
    size = len(raw)
    if size == 0 or size > 20:
        return None
    if raw.isdigit():
        if raw[0] == 48 and size > 1:
            return None
    elif not (raw[0] == 45 and size > 1 and raw[1] != 48 and raw[1:].isdigit()):
        return None
    value = int(raw)
    return value if INT64_MIN <= value <= INT64_MAX else None


def wire_size(args: list[bytes]) -> int:
    """Bytes of the canonical multibulk encoding of args (what hiredis consumed)."""
    lengths = list(map(len, args))
    return 3 + len(str(len(args))) + 5 * len(args) + sum(lengths) + sum(map(len, map(str, lengths)))


class RespConnection:
    """Parses one client's byte stream into commands. See the module docstring."""

    def __init__(
        self,
        *,
        bulk_bytes_max: int = BULK_BYTES_MAX,
        inline_bytes_max: int = INLINE_BYTES_MAX,
        query_buffer_bytes_max: int = QUERY_BUFFER_BYTES_MAX,
        command_bytes_max: int | None = None,
        fast: bool = True,
        authenticated: bool = True,
    ) -> None:
        self.authenticated = authenticated
        self.command_bytes_max = sys.maxsize if command_bytes_max is None else command_bytes_max
        self.bulk_bytes_max = bulk_bytes_max
        self.inline_bytes_max = inline_bytes_max
        self.query_buffer_bytes_max = query_buffer_bytes_max
        self._use_hiredis = fast
        self._error: ProtocolError | None = None
        # fast mode: chunks fed to hiredis since the last clean boundary, and the commands it returned since
        self._fast = fast and authenticated
        self._reader: hiredis.Reader | None = None
        self._fed: list[bytes] = []
        self._returned: list[list[bytes]] = []
        # slow mode: buffer, read position and the command in progress (Redis' multibulklen/bulklen/argv)
        self._buf = bytearray()
        self._pos = 0
        self._elements_left = 0
        self._bulk_len = -1
        self._args: list[bytes] = []
        self._args_bytes = 0
        self._too_large = 0  # the command in progress passed command_bytes_max: its size so far
        self._skip_left = 0  # bytes of the current bulk still to skip (with its CRLF)
        self._retry_fast = False
        self._scan_hint: tuple[int, bytes, int, bool] | None = None  # (pos, byte, scanned to, NUL seen)

    # --- input -------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer. Never parses, never raises."""
        if not data or self._error is not None:
            return
        if self._fast:
            fed = self._fed
            if not fed:
                if data[0] != 42 or _GUARD_HEAD.match(data):  # not '*': an inline command (or garbage) comes next
                    self._to_slow(data, retry_fast=False)
                    return
            elif _GUARD.search(fed[-1][-_GUARD_SPAN:] + data[:_GUARD_SPAN]) is not None:
                self._to_slow(data, retry_fast=False)
                return
            if len(data) > self.command_bytes_max or (fed and sum(map(len, fed)) + len(data) > self.command_bytes_max):
                self._to_slow(data, retry_fast=True)  # hiredis would keep a command of any size
                return
            if _GUARD.search(data) is not None:
                self._to_slow(data, retry_fast=False)
                return
            if self._reader is None:
                self._reader = hiredis.Reader()
            self._reader.feed(data)
            fed.append(data)
        else:
            self._buf += data
            if len(self._buf) - self._pos + self._args_bytes > self.query_buffer_bytes_max:
                self._fail("query buffer limit exceeded")

    def set_authenticated(self, authenticated: bool) -> None:
        """The client authenticated (AUTH, HELLO ... AUTH) or stopped being so (RESET): the
        commands parsed from now on obey, or no longer obey, the unauthenticated limits."""
        self.authenticated = authenticated
        if not authenticated and self._fast:
            self._to_slow(b"", retry_fast=False)  # what hiredis holds is judged by the exact parser

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as commands (an upper bound in fast mode)."""
        if self._fast:
            return sum(map(len, self._fed))
        return len(self._buf) - self._pos + self._args_bytes

    # --- output --------------------------------------------------------------------
    def next_command(self) -> list[bytes] | type[NEED_DATA] | ProtocolError:
        """The next complete command (a fresh list the caller owns), NEED_DATA, or a ProtocolError."""
        if self._error is not None:
            return self._error
        if self._fast:
            reader = self._reader
            if reader is None:
                return NEED_DATA
            try:
                cmd = reader.gets()
            except hiredis.ProtocolError:
                self._to_slow(b"", retry_fast=False)
                return self._next_slow()
            if cmd.__class__ is list and cmd:
                for arg in cmd:
                    if arg.__class__ is not bytes:
                        break
                else:
                    if reader.has_data():
                        self._returned.append(cmd)
                    else:  # clean boundary: nothing pending
                        self._fed.clear()
                        self._returned.clear()
                    return cmd
            elif cmd is False:
                if not self._fed:
                    return NEED_DATA
                self._to_slow(b"", retry_fast=True)  # stall inside a command: finish it in Python
                return self._next_slow()
            self._to_slow(b"", retry_fast=False)  # anything else: let the exact parser judge
            return self._next_slow()
        return self._next_slow()

    # --- mode switches ---------------------------------------------------------------
    def _to_slow(self, extra: bytes, *, retry_fast: bool) -> None:
        """Move everything after the last boundary hiredis reached to the Python buffer."""
        consumed = sum(map(wire_size, self._returned))
        pending = b"".join(self._fed)
        self._fed.clear()
        self._returned.clear()
        self._reader = None
        self._fast = False
        self._retry_fast = retry_fast
        assert consumed <= len(pending)
        self._buf = bytearray(memoryview(pending)[consumed:])
        self._buf += extra
        self._pos = 0
        self._scan_hint = None
        self._elements_left = 0
        self._bulk_len = -1
        self._args = []
        self._args_bytes = 0
        self._too_large = self._skip_left = 0
        if len(self._buf) > self.query_buffer_bytes_max:
            self._fail("query buffer limit exceeded")

    def _after_slow_command(self) -> None:
        """At a boundary in slow mode: hand the rest back to hiredis when that is cheap."""
        buf, pos = self._buf, self._pos
        self._scan_hint = None
        if pos == len(buf):
            buf.clear()
            self._pos = 0
            self._fast = self._use_hiredis and self.authenticated
            self._retry_fast = False
            return
        if self._retry_fast and self.authenticated:
            self._retry_fast = False
            if buf[pos] == 42:
                rest = bytes(memoryview(buf)[pos:])
                buf.clear()
                self._pos = 0
                self._fast = True
                self.receive_data(rest)  # may come straight back here if the guard objects
                return
        if pos >= COMPACT_BYTES_MIN and pos * 2 >= len(buf):
            del buf[:pos]
            self._pos = 0

    def _fail(self, why: str) -> ProtocolError:
        self._error = ProtocolError(f"ERR Protocol error: {why}")
        self._buf = bytearray()
        self._pos = 0
        self._args = []
        self._args_bytes = 0
        self._fed.clear()
        self._returned.clear()
        self._reader = None
        return self._error

    # --- the exact parser ------------------------------------------------------------
    def _next_slow(self) -> list[bytes] | type[NEED_DATA] | ProtocolError:
        if self._error is not None:
            return self._error
        while True:
            if self._elements_left == 0:
                buf, pos = self._buf, self._pos
                if pos >= len(buf):
                    self._after_slow_command()
                    return NEED_DATA
                if buf[pos] != 42:
                    cmd = self._inline()
                else:
                    cmd = self._multibulk_count()
                if cmd is None:  # skipped: empty line, or a count <= 0
                    continue
                if cmd is not True:  # an inline command, NEED_DATA or an error
                    return cmd
            result = self._bulk_elements()
            if result is not None:
                return result
            args = self._args
            self._args = []
            self._args_bytes = 0
            if self._too_large:
                args, self._too_large = CommandTooLarge(self._too_large), 0
            self._after_slow_command()
            return args

    def _line_end(self, byte: bytes) -> int:
        """Index of the next `byte` (CR or LF) from pos, or -1, with strchr's NUL stop.

        A failed search remembers how far it looked, so a line that arrives a
        byte at a time costs O(length), not O(length^2)."""
        buf, pos = self._buf, self._pos
        start = pos
        hint = self._scan_hint
        if hint is not None and hint[0] == pos and hint[1] == byte:
            if hint[3]:  # a NUL came first: blocked for good, as in Redis
                return -1
            start = hint[2]
        end = buf.find(byte, start)
        nul = buf.find(b"\0", start, end if end >= 0 else len(buf))
        if end < 0 or nul >= 0:
            self._scan_hint = (pos, byte, len(buf), nul >= 0)
            return -1
        self._scan_hint = None
        return end

    def _inline(self):
        buf, pos = self._buf, self._pos
        newline = self._line_end(b"\n")
        if newline < 0:
            if len(buf) - pos > self.inline_bytes_max:
                return self._fail("too big inline request")
            return NEED_DATA
        end = newline - 1 if newline > pos and buf[newline - 1] == 13 else newline
        args = split_args(bytes(buf[pos:end]))
        if args is None:
            return self._fail("unbalanced quotes in request")
        self._pos = newline + 1
        if not args:
            return None
        self._after_slow_command()
        return args

    def _multibulk_count(self):
        buf, pos = self._buf, self._pos
        cr = self._line_end(b"\r")
        if cr < 0:
            if len(buf) - pos > self.inline_bytes_max:
                return self._fail("too big mbulk count string")
            return NEED_DATA
        if cr + 1 >= len(buf):  # the byte after CR must be buffered too
            return NEED_DATA
        count = string2ll(buf[pos + 1 : cr])
        if count is None or count > INT_MAX:
            return self._fail("invalid multibulk length")
        if count > UNAUTHENTICATED_ELEMENTS_MAX and not self.authenticated:
            return self._fail("unauthenticated multibulk length")
        self._pos = cr + 2
        if count <= 0:
            return None
        self._elements_left = count
        self._args = []
        self._args_bytes = 0
        return True

    def _bulk_elements(self) -> type[NEED_DATA] | ProtocolError | None:
        """Read elements of the current multibulk; None once all are in."""
        buf = self._buf
        args = self._args
        while self._elements_left:
            pos = self._pos
            if self._bulk_len < 0:
                cr = self._line_end(b"\r")
                if cr < 0:
                    if len(buf) - pos > self.inline_bytes_max:
                        return self._fail("too big bulk count string")
                    return NEED_DATA
                if cr + 1 >= len(buf):
                    return NEED_DATA
                if buf[pos] != 36:
                    got = buf[pos]
                    shown = (
                        " " if got in (10, 13) else bytes([got]).decode("utf-8", "surrogateescape")
                    )  # Redis turns CR/LF into spaces in errors
                    return self._fail(f"expected '$', got '{shown}'")
                size = string2ll(buf[pos + 1 : cr])
                if size is None or size < 0 or size > self.bulk_bytes_max:
                    return self._fail("invalid bulk length")
                if size > UNAUTHENTICATED_BULK_BYTES_MAX and not self.authenticated:
                    return self._fail("unauthenticated bulk length")
                self._pos = pos = cr + 2
                self._bulk_len = size
                if self._too_large or self._args_bytes + size > self.command_bytes_max:
                    self._too_large = (self._too_large or self._args_bytes) + size
                    self._args = args = []  # what was kept is of no use any more
                    self._args_bytes = 0
                    self._skip_left = size + 2
            if self._too_large:
                if self._skip():
                    return NEED_DATA
                self._bulk_len = -1
                self._elements_left -= 1
                continue
            size = self._bulk_len
            if len(buf) - pos < size + 2:
                return NEED_DATA
            args.append(bytes(memoryview(buf)[pos : pos + size]))
            self._args_bytes += size
            self._pos = pos + size + 2
            self._bulk_len = -1
            self._elements_left -= 1
        return None

    def _skip(self) -> bool:
        """Drop what is buffered of the bulk being skipped; True while more of it is to come."""
        buf, pos = self._buf, self._pos
        n = min(len(buf) - pos, self._skip_left)
        self._skip_left -= n
        del buf[: pos + n]  # nothing before it is needed again
        self._pos = 0
        self._scan_hint = None
        return self._skip_left > 0
