"""Stream commands without consumer groups (Redis 7.0 t_stream.c): XADD, XRANGE, XREVRANGE, XLEN,
XDEL, XTRIM, XREAD, XSETID, and the parsing the other stream modules share. Groups are in
stream_groups.py, XINFO in stream_info.py, the value type in streams.py.

IDs that Redis takes from its clock (XADD `*`) come from the entry's ts_ms here, the leader's
stamp, so every replica assigns the same ID; `ms-*` takes its sequence from the stream.

XREAD BLOCK: blocking reads come with blocking commands (issue 14). Until then BLOCK is parsed and
checked as Redis does, and XREAD answers as Redis answers a client that may not block (inside
MULTI or a script): the entries if there are any, otherwise a nil reply at once, as if the timeout
had passed. A client polling with BLOCK keeps working; it just does not wait.

Redis parses client strings as C strings in places (keywords, IDs): an argument is read up to its
first NUL byte there, as `cstr` does.
"""

from __future__ import annotations

from statemachines import NOT_AN_INTEGER, NULL_ARRAY, ReplyError, Result
from statemachines.keyevents import STREAM
from statemachines.kv.keyspace import SYNTAX, WRONGTYPE, Keyspace, arity_error, parse_int
from statemachines.kv.streams import ID_MAX, LISTPACK_MAX_BYTES, NODE_MAX_ENTRIES, SEQ_BITS, U64, Stream, format_id
from statemachines.kv.table import command, refusal

INVALID_ID = ReplyError("ERR Invalid stream ID specified as stream command argument")
INVALID_START = ReplyError("ERR invalid start ID for the interval")
INVALID_END = ReplyError("ERR invalid end ID for the interval")
ID_MAX_TEXT_BYTES = 127  # streamGenericParseIDOrReply's buffer

_SPACE = b" \t\n\v\f\r"


def cstr(raw: bytes) -> bytes:
    """The argument as Redis' C-string functions see it (up to the first NUL)."""
    return raw.split(b"\0", 1)[0] if b"\0" in raw else raw


def keyword(raw: bytes) -> bytes:
    """For strcasecmp against an option name."""
    return cstr(raw).lower()


def text(raw: bytes, limit: int = 1 << 16) -> str:
    """Client bytes in an error text, as Redis' "%s" prints them (cut at NUL), byte for byte."""
    return cstr(raw)[:limit].decode("utf-8", "surrogateescape")


def _strtoull(raw: bytes) -> int | None:
    """Redis' string2ull: string2ll (refusing negatives), else strtoull (leading spaces, a sign,
    leading zeros; "-N" wraps modulo 2**64 as C does; overflow refused)."""
    if not raw:
        return None
    value = parse_int(raw)
    if value is not None:
        return value if value >= 0 else None
    i, n = 0, len(raw)
    while i < n and raw[i] in _SPACE:
        i += 1
    negative = False
    if i < n and raw[i] in b"+-":
        negative = raw[i] == 45
        i += 1
    digits = raw[i:]
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    value = int(digits)  # at most ID_MAX_TEXT_BYTES digits
    if value > U64:
        return None
    return (-value) & U64 if negative else value


def parse_id(raw: bytes, missing_seq: int = 0, strict: bool = False, seq_star: bool = False):
    """streamGenericParseIDOrReply: "<ms>[-<seq>]", "-" and "+" unless strict, "<ms>-*" when
    seq_star. Returns (id, seq_given), or None when invalid."""
    if len(raw) > ID_MAX_TEXT_BYTES:
        return None
    raw = cstr(raw)
    if raw == b"-" or raw == b"+":
        if strict:
            return None
        return (0 if raw == b"-" else ID_MAX), True
    ms_text, dash, seq_text = raw.partition(b"-")
    ms = _strtoull(ms_text)
    if ms is None:
        return None
    if not dash:
        return ms << SEQ_BITS | missing_seq, True
    if seq_star and seq_text == b"*":
        return ms << SEQ_BITS, False
    seq = _strtoull(seq_text)
    if seq is None:
        return None
    return ms << SEQ_BITS | seq, True


def parse_strict_id(raw: bytes) -> int | None:
    parsed = parse_id(raw, strict=True)
    return None if parsed is None else parsed[0]


def parse_interval(raw: bytes, missing_seq: int, start: bool) -> int | ReplyError:
    """streamParseIntervalIDOrReply plus the increment/decrement of an exclusive bound."""
    exclusive = len(raw) > 1 and raw[0] == 40  # "("
    parsed = parse_id(raw[1:], missing_seq, strict=True) if exclusive else parse_id(raw, missing_seq)
    if parsed is None:
        return INVALID_ID
    value = parsed[0]
    if exclusive:
        if start:
            if value == ID_MAX:
                return INVALID_START
            value += 1
        else:
            if value == 0:
                return INVALID_END
            value -= 1
    return value


def subcommand_syntax(args: list[bytes]) -> ReplyError:
    return ReplyError(
        f"ERR unknown subcommand or wrong number of arguments for '{text(args[1], 128)}'. "
        f"Try {text(args[0].upper())} HELP."
    )


def unknown_subcommand(args: list[bytes]) -> ReplyError:
    return ReplyError(f"ERR unknown subcommand '{text(args[1], 128)}'. Try {text(args[0].upper())} HELP.")


def help_reply(args: list[bytes], lines: tuple[str, ...]) -> list:
    name = args[0].upper().decode("utf-8", "surrogateescape")
    return [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", *lines, "HELP", "    Prints this help."]


def subcommand_arities(subcommands: tuple) -> dict[bytes, tuple[int, str]]:
    return {spec.name.split("|")[1].encode(): (spec.arity, spec.name) for spec in subcommands}


def dispatch_subcommand(args: list[bytes], arities: dict[bytes, tuple[int, str]]) -> bytes | ReplyError:
    """Redis' dispatch of a container command: the subcommand must exist and fit its arity (the
    frontend checks the same inside MULTI, from the subcommands' specs)."""
    sub = args[1].lower()
    found = arities.get(sub)
    if found is None:
        return unknown_subcommand(args)
    arity, name = found
    n = len(args)
    if n != arity and (arity > 0 or n < -arity):
        return arity_error(name)
    return sub


def read_stream(ks: Keyspace, key: bytes, now: int):
    value = ks.get(key, now)
    return value if value is None or type(value) is Stream else WRONGTYPE


def write_stream(ks: Keyspace, key: bytes, ts: int):
    value = ks.get_for_write(key, ts)
    return value if value is None or type(value) is Stream else WRONGTYPE


def null_array_if_none(args: list[bytes], result: Result, protocol: int) -> Result:
    return NULL_ARRAY if result is None else result


def wrap64(value: int) -> int:
    """A C long long computation that overflowed, as the machine would wrap it."""
    value &= U64
    return value - (1 << 64) if value >> 63 else value


# --- XADD / XTRIM ------------------------------------------------------------------------
MAXLEN_NEGATIVE = ReplyError("ERR The MAXLEN argument must be >= 0.")
LIMIT_NEGATIVE = ReplyError("ERR The LIMIT argument must be >= 0.")
BOTH_STRATEGIES = ReplyError("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
LIMIT_WITHOUT_STRATEGY = ReplyError("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
XTRIM_WITHOUT_STRATEGY = ReplyError("ERR syntax error, XTRIM must be called with a trimming strategy")
LIMIT_WITHOUT_APPROX = ReplyError("ERR syntax error, LIMIT cannot be used without the special ~ option")
XADD_ZERO_ID = ReplyError("ERR The ID specified in XADD must be greater than 0-0")
XADD_EXHAUSTED = ReplyError("ERR The stream has exhausted the last possible ID, unable to add more items")
XADD_SMALLER = ReplyError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
XADD_TOO_LARGE = ReplyError("ERR Elements are too large to be stored")
APPROX_LIMIT_DEFAULT = 100 * NODE_MAX_ENTRIES  # at most 100 nodes per ~ trim unless LIMIT says otherwise


class AddTrim:
    """streamAddTrimArgs: what XADD and XTRIM parsed."""

    __slots__ = ("maxlen", "minid", "approx", "limit", "nomkstream", "id", "seq_given", "id_pos")

    def __init__(self) -> None:
        self.maxlen: int | None = None
        self.minid: int | None = None
        self.approx = False
        self.limit = 0
        self.nomkstream = False
        self.id: int | None = None  # None: "*"
        self.seq_given = True
        self.id_pos = 0

    @property
    def trims(self) -> bool:
        return self.maxlen is not None or self.minid is not None


def parse_add_trim(args: list[bytes], xadd: bool) -> AddTrim | ReplyError:
    """streamParseAddOrTrimArgsOrReply, then XADD's arity and 0-0 checks."""
    parsed = AddTrim()
    n = len(args)
    i = 2
    limit_given = False
    while i < n:
        more = n - 1 - i
        opt = keyword(args[i])
        if xadd and opt == b"*":
            break
        if opt in (b"maxlen", b"minid") and more:
            if parsed.trims:
                return BOTH_STRATEGIES
            parsed.approx = False
            following = cstr(args[i + 1])
            if more >= 2 and following == b"~":
                parsed.approx = True
                i += 1
            elif more >= 2 and following == b"=":
                i += 1
            if opt == b"maxlen":
                maxlen = parse_int(args[i + 1])
                if maxlen is None:
                    return NOT_AN_INTEGER
                if maxlen < 0:
                    return MAXLEN_NEGATIVE
                parsed.maxlen = maxlen
            else:
                minid = parse_strict_id(args[i + 1])
                if minid is None:
                    return INVALID_ID
                parsed.minid = minid
            i += 1
        elif opt == b"limit" and more:
            limit = parse_int(args[i + 1])
            if limit is None:
                return NOT_AN_INTEGER
            if limit < 0:
                return LIMIT_NEGATIVE
            parsed.limit = limit
            limit_given = True
            i += 1
        elif xadd and opt == b"nomkstream":
            parsed.nomkstream = True
        elif xadd:
            given = parse_id(args[i], seq_star=True, strict=True)
            if given is None:
                return INVALID_ID
            parsed.id, parsed.seq_given = given
            break
        else:
            return SYNTAX
        i += 1
    if parsed.limit and not parsed.trims:
        return LIMIT_WITHOUT_STRATEGY
    if not xadd and not parsed.trims:
        return XTRIM_WITHOUT_STRATEGY
    if limit_given:
        if not parsed.approx:
            return LIMIT_WITHOUT_APPROX
    else:
        parsed.limit = APPROX_LIMIT_DEFAULT if parsed.approx else 0
    if xadd:
        parsed.id_pos = i
        values = n - (i + 1)
        if values < 2 or values % 2:
            return arity_error("xadd")
        if parsed.id == 0 and parsed.seq_given:
            return XADD_ZERO_ID
    return parsed


def _check_xadd(args: list[bytes]) -> ReplyError | None:
    parsed = parse_add_trim(args, xadd=True)
    return parsed if type(parsed) is ReplyError else None


def _new_id(s: Stream, parsed: AddTrim, ts: int) -> int | ReplyError:
    """streamAppendItem's choice of ID, and its refusals."""
    last = s.last_id
    if parsed.id is None:  # "*": the leader's timestamp, never a clock of this replica
        ms = ts & U64
        new = ms << SEQ_BITS if ms > last >> SEQ_BITS else last + 1
    elif parsed.seq_given:
        new = parsed.id
    elif last >> SEQ_BITS == parsed.id >> SEQ_BITS:  # "<ms>-*" in the last ID's millisecond
        if last & U64 == U64:
            return XADD_TOO_LARGE  # Redis fails here with a stale errno: this is its reply
        new = last + 1
    else:
        new = parsed.id
    if new <= last:
        return XADD_SMALLER
    return new


@command(
    "xadd",
    -5,
    "write denyoom fast",
    group="stream",
    syntax="key [NOMKSTREAM] [MAXLEN threshold | MINID threshold] [LIMIT count] id field value [field value ...]",
    summary="Appends a new entry to a stream",
    check=_check_xadd,
)
def cmd_xadd(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_add_trim(args, xadd=True)
    if type(parsed) is ReplyError:
        return parsed
    key = args[1]
    s = write_stream(ks, key, ts)
    if s is WRONGTYPE:
        return s
    created = s is None
    if created:
        if parsed.nomkstream:
            return None
        s = Stream()
    elif s.last_id == ID_MAX:
        return XADD_EXHAUSTED
    new = _new_id(s, parsed, ts)
    if type(new) is ReplyError:
        return new
    items = tuple(args[parsed.id_pos + 1 :])
    if sum(map(len, items)) > LISTPACK_MAX_BYTES:
        return XADD_TOO_LARGE
    s.append(new, items)
    trimmed = s.trim(parsed.maxlen, parsed.minid, parsed.approx, parsed.limit) if parsed.trims else 0
    if created:
        ks.put(key, s)
    else:
        ks.changed(key)
    if ks.keyspace_event is not None:
        ks.notify(STREAM, b"xadd", key)
    if trimmed:
        ks.notify(STREAM, b"xtrim", key)
    return format_id(new)


def _check_xtrim(args: list[bytes]) -> ReplyError | None:
    parsed = parse_add_trim(args, xadd=False)
    return parsed if type(parsed) is ReplyError else None


@command(
    "xtrim",
    -4,
    "write",
    group="stream",
    syntax="key [MAXLEN threshold | MINID threshold] [LIMIT count]",
    summary="Deletes messages from the beginning of a stream.",
    check=_check_xtrim,
)
def cmd_xtrim(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_add_trim(args, xadd=False)
    if type(parsed) is ReplyError:
        return parsed
    s = write_stream(ks, args[1], ts)
    if s is None or s is WRONGTYPE:
        return 0 if s is None else s
    deleted = s.trim(parsed.maxlen, parsed.minid, parsed.approx, parsed.limit)
    if deleted:
        ks.changed(args[1])
        ks.notify(STREAM, b"xtrim", args[1])
    return deleted


# --- XRANGE / XREVRANGE / XLEN -----------------------------------------------------------------
def parse_range(args: list[bytes], reverse: bool) -> tuple[int, int, int] | ReplyError:
    """(start, end, count; -1 for no COUNT)."""
    start = parse_interval(args[3] if reverse else args[2], 0, start=True)
    if type(start) is ReplyError:
        return start
    end = parse_interval(args[2] if reverse else args[3], U64, start=False)
    if type(end) is ReplyError:
        return end
    count = -1
    j = 4
    n = len(args)
    while j < n:
        if keyword(args[j]) == b"count" and j + 1 < n:
            count = parse_int(args[j + 1])
            if count is None:
                return NOT_AN_INTEGER
            count = max(count, 0)
            j += 2
        else:
            return SYNTAX
    return start, end, count


def _xrange(ks: Keyspace, args: list[bytes], now: int, reverse: bool) -> Result:
    parsed = parse_range(args, reverse)
    if type(parsed) is ReplyError:
        return parsed
    start, end, count = parsed
    s = read_stream(ks, args[1], now)
    if s is None or s is WRONGTYPE:
        return [] if s is None else s
    if count == 0:
        return None  # a null array (reply hook)
    return s.range(start, end, max(count, 0), reverse)


def _check_range(reverse: bool):
    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse_range(args, reverse)
        return parsed if type(parsed) is ReplyError else None

    return check


@command(
    "xrange",
    -4,
    "readonly",
    group="stream",
    syntax="key start end [COUNT count]",
    summary="Return a range of elements in a stream, with IDs matching the specified IDs interval",
    check=_check_range(False),
    reply=null_array_if_none,
)
def cmd_xrange(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _xrange(ks, args, now, reverse=False)


@command(
    "xrevrange",
    -4,
    "readonly",
    group="stream",
    syntax="key end start [COUNT count]",
    summary="Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse "
    "order (from greater to smaller IDs) compared to XRANGE",
    check=_check_range(True),
    reply=null_array_if_none,
)
def cmd_xrevrange(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _xrange(ks, args, now, reverse=True)


@command("xlen", 2, "readonly fast", group="stream", syntax="key", summary="Return the number of entries in a stream")
def cmd_xlen(ks: Keyspace, args: list[bytes], now: int) -> Result:
    s = read_stream(ks, args[1], now)
    if s is None or s is WRONGTYPE:
        return 0 if s is None else s
    return s.length


# --- XDEL --------------------------------------------------------------------------------------
@command(
    "xdel",
    -3,
    "write fast",
    group="stream",
    syntax="key id [id ...]",
    summary="Removes the specified entries from the stream. Returns the number of items actually deleted, "
    "that may be different from the number of IDs passed in case certain IDs do not exist.",
)
def cmd_xdel(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    s = write_stream(ks, args[1], ts)
    if s is None or s is WRONGTYPE:
        return 0 if s is None else s
    ids = []
    for raw in args[2:]:
        entry_id = parse_strict_id(raw)
        if entry_id is None:
            return INVALID_ID
        ids.append(entry_id)
    deleted = 0
    first_deleted = False
    for entry_id in ids:
        if s.delete(entry_id):
            if entry_id == s.first_id:
                first_deleted = True
            if entry_id > s.max_deleted:
                s.max_deleted = entry_id
            deleted += 1
    if deleted:
        if s.length == 0:
            s.first_id = 0
        elif first_deleted:
            s.first_id = s.edge_id(last=False)
        ks.changed(args[1])
        ks.notify(STREAM, b"xdel", args[1])
    return deleted


# --- XREAD (XREADGROUP shares the parsing: stream_groups.py) -----------------------------------
UNBALANCED = ReplyError("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
GROUP_ONLY_XREADGROUP = ReplyError("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
NOACK_ONLY_XREADGROUP = ReplyError("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
MISSING_GROUP = ReplyError("ERR Missing GROUP option for XREADGROUP")
TIMEOUT_NOT_INTEGER = ReplyError("ERR timeout is not an integer or out of range")
TIMEOUT_NEGATIVE = ReplyError("ERR timeout is negative")


class ReadArgs:
    __slots__ = ("count", "streams_at", "streams", "group", "consumer", "noack")

    def __init__(self) -> None:
        self.count = 0
        self.streams_at = 0
        self.streams = 0
        self.group: bytes | None = None
        self.consumer: bytes | None = None
        self.noack = False


def parse_read(args: list[bytes], group_read: bool) -> ReadArgs | ReplyError:
    """xreadCommand's option parsing (errors in its order); IDs are read with the keys."""
    parsed = ReadArgs()
    n = len(args)
    i = 1
    while i < n:
        more = n - i - 1
        opt = keyword(args[i])
        if opt == b"block" and more:
            i += 1
            timeout = parse_int(args[i])
            if timeout is None:
                return TIMEOUT_NOT_INTEGER
            if timeout < 0:
                return TIMEOUT_NEGATIVE
        elif opt == b"count" and more:
            i += 1
            count = parse_int(args[i])
            if count is None:
                return NOT_AN_INTEGER
            parsed.count = max(count, 0)
        elif opt == b"streams" and more:
            parsed.streams_at = i + 1
            if (n - parsed.streams_at) % 2:
                return UNBALANCED
            parsed.streams = (n - parsed.streams_at) // 2
            break
        elif opt == b"group" and more >= 2:
            if not group_read:
                return GROUP_ONLY_XREADGROUP
            parsed.group, parsed.consumer = args[i + 1], args[i + 2]
            i += 2
        elif opt == b"noack":
            if not group_read:
                return NOACK_ONLY_XREADGROUP
            parsed.noack = True
        else:
            return SYNTAX
        i += 1
    if not parsed.streams_at:
        return SYNTAX
    if group_read and parsed.group is None:
        return MISSING_GROUP
    return parsed


DOLLAR_IN_XREADGROUP = ReplyError(
    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer "
    "by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty "
    "result set."
)
GT_ONLY_XREADGROUP = ReplyError(
    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
)


def _check_xread(args: list[bytes]) -> ReplyError | None:
    parsed = parse_read(args, group_read=False)
    return parsed if type(parsed) is ReplyError else None


def reply_read(args: list[bytes], result: Result, protocol: int) -> Result:
    """XREAD/XREADGROUP: nil array when nothing was served; a map of key -> entries in RESP3
    (a key named twice keeps its last entries there); a PEL entry whose message was deleted is
    [id, nil array]."""
    if result is None:
        return NULL_ARRAY
    if type(result) is not list:
        return result
    for _, entries in result:
        for entry in entries:
            if entry[1] is None:
                entry[1] = NULL_ARRAY
    if protocol == 3:
        return dict(result)
    return result


@command(
    "xread",
    -4,
    "readonly blocking movablekeys",
    (0, 0, 0),
    group="stream",
    syntax="[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]",
    summary="Return never seen elements in multiple streams, with IDs greater than the ones reported by the "
    "caller for each stream.",
    check=_check_xread,
    reply=reply_read,
)
def cmd_xread(ks: Keyspace, args: list[bytes], now: int) -> Result:
    parsed = parse_read(args, group_read=False)
    if type(parsed) is ReplyError:
        return parsed
    at, n = parsed.streams_at, parsed.streams
    after: list[int] = []
    for i in range(n):
        s = read_stream(ks, args[at + i], now)
        if s is WRONGTYPE:
            return s
        raw = args[at + n + i]
        if cstr(raw) == b"$":
            after.append(s.last_id if s is not None else 0)
            continue
        if cstr(raw) == b">":
            return GT_ONLY_XREADGROUP
        entry_id = parse_strict_id(raw)
        if entry_id is None:
            return INVALID_ID
        after.append(entry_id)
    out = []
    for i in range(n):
        s = read_stream(ks, args[at + i], now)
        if s is None or not s.length or s.edge_id(last=True) <= after[i]:
            continue
        out.append([args[at + i], s.range(after[i] + 1, ID_MAX, parsed.count)])
    return out or None


# --- XSETID ----------------------------------------------------------------------------------
ENTRIES_ADDED_NEGATIVE = ReplyError("ERR entries_added must be positive")
SETID_BELOW_MAX_DELETED = ReplyError("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
SETID_BELOW_TOP = ReplyError("ERR The ID specified in XSETID is smaller than the target stream top item")
SETID_ADDED_BELOW_LENGTH = ReplyError(
    "ERR The entries_added specified in XSETID is smaller than the target stream length"
)
NO_SUCH_KEY = ReplyError("ERR no such key")


def parse_xsetid(args: list[bytes]) -> tuple[int, int, int] | ReplyError:
    """(last id, entries_added or -1, max deleted id or 0)."""
    last = parse_strict_id(args[2])
    if last is None:
        return INVALID_ID
    entries_added, max_deleted = -1, 0
    i, n = 3, len(args)
    while i < n:
        more = n - 1 - i
        opt = keyword(args[i])
        if opt == b"entriesadded" and more:
            entries_added = parse_int(args[i + 1])
            if entries_added is None:
                return NOT_AN_INTEGER
            if entries_added < 0:
                return ENTRIES_ADDED_NEGATIVE
        elif opt == b"maxdeletedid" and more:
            max_deleted = parse_strict_id(args[i + 1])
            if max_deleted is None:
                return INVALID_ID
            if last < max_deleted:
                return SETID_BELOW_MAX_DELETED
        else:
            return SYNTAX
        i += 2
    return last, entries_added, max_deleted


_check_xsetid = refusal(parse_xsetid)


@command(
    "xsetid",
    -3,
    "write denyoom fast",
    group="stream",
    syntax="key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]",
    summary="An internal command for replicating stream values",
    check=_check_xsetid,
)
def cmd_xsetid(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_xsetid(args)
    if type(parsed) is ReplyError:
        return parsed
    last, entries_added, max_deleted = parsed
    s = write_stream(ks, args[1], ts)
    if s is None or s is WRONGTYPE:
        return NO_SUCH_KEY if s is None else s
    if s.length:
        if last < s.edge_id(last=True):
            return SETID_BELOW_TOP
        if entries_added != -1 and s.length > entries_added:
            return SETID_ADDED_BELOW_LENGTH
    s.last_id = last
    if entries_added != -1:
        s.entries_added = entries_added
    if max_deleted:
        s.max_deleted = max_deleted
    ks.notify(STREAM, b"xsetid", args[1])
    return "OK"  # no version change: Redis' XSETID does not signal a modified key (WATCH)
