"""Consumer-group commands (Redis 7.0 t_stream.c): XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
XAUTOCLAIM. XINFO is in stream_info.py.

WATCH: none of these changes a key's version (Keyspace.changed), as in Redis, where only XADD,
XDEL, XTRIM and the stream XGROUP CREATE MKSTREAM creates signal a modified key: a transaction
watching a stream is not aborted by reads of a group, acknowledgements or claims.

Times (delivery times, consumers' seen-time) are the `ms` a handler gets: ts_ms inside apply (the
leader's stamp, so replicas agree), the serving node's clock for a read's idle figures. XREADGROUP
changes the PEL, so it is a write; XPENDING and XINFO are reads.

XGROUP is a container in Redis 7.0 (XGROUP|CREATE ...): its subcommands are declared with their
arities, which the frontend checks when MULTI queues them and stream_commands.dispatch_subcommand
checks here, with the texts Redis' dispatcher uses.
"""

from __future__ import annotations

from statemachines import NOT_AN_INTEGER, NULL_ARRAY, ReplyError, Result
from statemachines.keyevents import KEY_MISS, STREAM
from statemachines.kv.keyspace import SYNTAX, WRONGTYPE, Keyspace, parse_int
from statemachines.kv.stream_commands import (
    DOLLAR_IN_XREADGROUP,
    INVALID_ID,
    cstr,
    dispatch_subcommand,
    help_reply,
    keyword,
    parse_id,
    parse_interval,
    parse_read,
    parse_strict_id,
    read_stream,
    reply_read,
    subcommand_arities,
    subcommand_syntax,
    text,
    wrap64,
    write_stream,
)
from statemachines.kv.streams import ENTRIES_READ_UNKNOWN, ID_MAX, U64, Consumer, Group, Nack, Stream, format_id
from statemachines.kv.table import command, refusal, subcommand

BUSYGROUP = ReplyError("BUSYGROUP Consumer Group name already exists")
KEY_REQUIRED = ReplyError(
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the "
    "MKSTREAM option to create an empty stream automatically."
)
ENTRIES_READ_RANGE = ReplyError("ERR value for ENTRIESREAD must be positive or -1")


def no_group(key: bytes, group: bytes) -> ReplyError:
    return ReplyError(f"NOGROUP No such consumer group '{text(group)}' for key name '{text(key)}'")


def no_key_or_group(key: bytes, group: bytes, suffix: str = "") -> ReplyError:
    return ReplyError(f"NOGROUP No such key '{text(key)}' or consumer group '{text(group)}'{suffix}")


def _group_of(s: Stream | None, name: bytes) -> Group | None:
    return None if s is None else s.groups.get(name)


def _lookup_consumer(ks: Keyspace, key: bytes, group: Group, name: bytes, now: int) -> Consumer:
    """streamLookupConsumer (refreshing seen-time) or streamCreateConsumer (and its event)."""
    consumer = group.consumers.get(name)
    if consumer is None:
        ks.notify(STREAM, b"xgroup-createconsumer", key)
        return group.create_consumer(name, now)
    consumer.seen = now
    return consumer


# --- XGROUP -----------------------------------------------------------------------------------
_XGROUP_SUBCOMMANDS = (
    subcommand(
        "xgroup|create",
        -5,
        "write denyoom",
        group="stream",
        syntax="key group id [MKSTREAM] [ENTRIESREAD entries-read]",
        summary="Create a consumer group.",
    ),
    subcommand(
        "xgroup|createconsumer",
        5,
        "write denyoom",
        group="stream",
        syntax="key group consumer",
        summary="Create a consumer in a consumer group.",
    ),
    subcommand(
        "xgroup|delconsumer",
        5,
        "write",
        group="stream",
        syntax="key group consumer",
        summary="Delete a consumer from a consumer group.",
    ),
    subcommand("xgroup|destroy", 4, "write", group="stream", syntax="key group", summary="Destroy a consumer group."),
    subcommand(
        "xgroup|setid",
        -5,
        "write",
        group="stream",
        syntax="key group id [ENTRIESREAD entries-read]",
        summary="Set a consumer group to an arbitrary last delivered ID value.",
    ),
    subcommand(
        "xgroup|help",
        2,
        "write loading stale",  # changes nothing, but XGROUP's calls all reach apply (the machine's reads are XINFO's)
        (0, 0, 0),
        group="stream",
        summary="Show helpful text about the different subcommands",
    ),
)
_XGROUP_HELP = (
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
)


_XGROUP_ARITY = subcommand_arities(_XGROUP_SUBCOMMANDS)


def parse_xgroup(args: list[bytes]) -> tuple[bytes, bool, int] | ReplyError:
    """(subcommand, MKSTREAM, ENTRIESREAD or -1): what xgroupCommand checks before the key."""
    sub = dispatch_subcommand(args, _XGROUP_ARITY)
    if type(sub) is ReplyError:
        return sub
    mkstream, entries_read = False, ENTRIES_READ_UNKNOWN
    n = len(args)
    if n >= 4:
        i = 5
        while i < n:
            opt = keyword(args[i])
            if sub == b"create" and opt == b"mkstream":
                mkstream = True
                i += 1
            elif sub in (b"create", b"setid") and opt == b"entriesread" and i + 1 < n:
                entries_read = parse_int(args[i + 1])
                if entries_read is None:
                    return NOT_AN_INTEGER
                if entries_read < 0 and entries_read != ENTRIES_READ_UNKNOWN:
                    return ENTRIES_READ_RANGE
                i += 2
            else:
                return subcommand_syntax(args)
    return sub, mkstream, entries_read


_check_xgroup = refusal(parse_xgroup)


@command(
    "xgroup",
    -2,
    "",  # a container: each subcommand says whether it writes (the frontend routes by it)
    (0, 0, 0),  # a container has no key positions; its subcommands have
    group="stream",
    summary="A container for consumer groups commands",
    check=_check_xgroup,
    subcommands=_XGROUP_SUBCOMMANDS,
)
def cmd_xgroup(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_xgroup(args)
    if type(parsed) is ReplyError:
        return parsed
    sub, mkstream, entries_read = parsed
    n = len(args)
    if sub == b"help":
        return help_reply(args, _XGROUP_HELP)
    key, name = args[2], args[3]
    s = write_stream(ks, key, ts)
    if s is WRONGTYPE:
        return s
    group = _group_of(s, name)
    if not mkstream:
        if s is None:
            return KEY_REQUIRED
        if group is None and sub in (b"setid", b"createconsumer", b"delconsumer"):
            return no_group(key, name)
    if sub == b"create" and n <= 8:
        if cstr(args[4]) == b"$":
            last = s.last_id if s is not None else 0
        else:
            last = parse_strict_id(args[4])
            if last is None:
                return INVALID_ID
        if s is None:
            s = Stream()
            ks.put(key, s)
        if name in s.groups:
            return BUSYGROUP
        s.groups[name] = Group(last, entries_read)
        ks.notify(STREAM, b"xgroup-create", key)
        return "OK"
    if sub == b"setid" and n in (5, 7):
        if cstr(args[4]) == b"$":
            last = s.last_id
        else:
            given = parse_id(args[4])
            if given is None:
                return INVALID_ID
            last = given[0]
        group.last_id = last
        group.entries_read = entries_read
        ks.notify(STREAM, b"xgroup-setid", key)
        return "OK"
    if sub == b"destroy":
        if group is None:
            return 0
        del s.groups[name]
        ks.notify(STREAM, b"xgroup-destroy", key)
        return 1
    if sub == b"createconsumer":
        if group.create_consumer(args[4], ts) is None:
            return 0
        ks.notify(STREAM, b"xgroup-createconsumer", key)
        return 1
    if sub == b"delconsumer":
        consumer = group.consumers.get(args[4])
        if consumer is None:
            return 0
        pending = group.delete_consumer(consumer)
        ks.notify(STREAM, b"xgroup-delconsumer", key)
        return pending
    return subcommand_syntax(args)


# --- XREADGROUP -----------------------------------------------------------------------------
def _check_xreadgroup(args: list[bytes]) -> ReplyError | None:
    parsed = parse_read(args, group_read=True)
    return parsed if type(parsed) is ReplyError else None


def _deliver(s: Stream, group: Group, consumer: Consumer, start: int, count: int, noack: bool, ts: int) -> list:
    """streamReplyWithRange with a group: new entries, moving the group's last ID and PEL."""
    entries = []
    for entry_id, items in s.walk(start, ID_MAX, count):
        entries.append([format_id(entry_id), list(items)])
        if entry_id > group.last_id:
            if group.entries_read != ENTRIES_READ_UNKNOWN and not s.range_has_tombstones(entry_id):
                group.entries_read += 1
            elif s.entries_added:
                group.entries_read = s.estimate_entries_read(entry_id)
            group.last_id = entry_id
        if noack:
            continue
        nack = group.pel.get(entry_id)
        if nack is None:
            group.add_nack(entry_id, Nack(ts, 1, consumer))
        else:
            group.move_nack(entry_id, nack, consumer)
            nack.time = ts
            nack.count = 1
    return entries


def _history(s: Stream, consumer: Consumer, start: int, count: int, ts: int, group: Group) -> list:
    """streamReplyWithRangeFromConsumerPEL: this consumer's pending entries from `start`."""
    out = []
    pel = consumer.pel
    for entry_id in pel.islice(pel.bisect_left(start)):
        if count and len(out) == count:
            break
        entry = s.entry(entry_id)
        if entry is None:
            out.append([format_id(entry_id), None])  # deleted since delivery: [id, nil array]
        else:
            nack = group.pel[entry_id]
            nack.time = ts
            nack.count = (nack.count + 1) & U64
            out.append(entry)
    return out


@command(
    "xreadgroup",
    -7,
    "write blocking movablekeys",
    (0, 0, 0),
    group="stream",
    syntax="GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]",
    summary="Return new entries from a stream using a consumer group, or access the history of the pending "
    "entries for a given consumer.",
    check=_check_xreadgroup,
    reply=reply_read,
)
def cmd_xreadgroup(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_read(args, group_read=True)
    if type(parsed) is ReplyError:
        return parsed
    at, n = parsed.streams_at, parsed.streams
    targets: list[tuple[Stream, Group, int]] = []
    for i in range(n):
        key = args[at + i]
        s = write_stream(ks, key, ts)
        if s is WRONGTYPE:
            return s
        if s is None:
            ks.notify(KEY_MISS, b"keymiss", key)  # Redis looks the streams up for read
        group = _group_of(s, parsed.group)
        if group is None:
            return no_key_or_group(key, parsed.group, " in XREADGROUP with GROUP option")
        raw = cstr(args[at + n + i])
        if raw == b"$":
            return DOLLAR_IN_XREADGROUP
        if raw == b">":
            targets.append((s, group, ID_MAX))
            continue
        entry_id = parse_strict_id(args[at + n + i])
        if entry_id is None:
            return INVALID_ID
        targets.append((s, group, entry_id))
    out = []
    for i, (s, group, after) in enumerate(targets):
        history = after != ID_MAX
        if not history:
            if not s.length or s.edge_id(last=True) <= group.last_id:
                continue
            after = group.last_id
        consumer = _lookup_consumer(ks, args[at + i], group, parsed.consumer, ts)
        if history:
            entries = _history(s, consumer, after + 1, parsed.count, ts, group)
        else:
            entries = _deliver(s, group, consumer, after + 1, parsed.count, parsed.noack, ts)
        out.append([args[at + i], entries])
    return out or None


# --- XACK -------------------------------------------------------------------------------------
@command(
    "xack",
    -4,
    "write fast",
    group="stream",
    syntax="key group id [id ...]",
    summary="Marks a pending message as correctly processed, effectively removing it from the pending entries "
    "list of the consumer group. Return value of the command is the number of messages successfully "
    "acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
)
def cmd_xack(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    s = write_stream(ks, args[1], ts)
    if s is WRONGTYPE:
        return s
    if s is None:
        ks.notify(KEY_MISS, b"keymiss", args[1])  # Redis looks the stream up for read
    group = _group_of(s, args[2])
    if group is None:
        return 0
    ids = []
    for raw in args[3:]:
        entry_id = parse_strict_id(raw)
        if entry_id is None:
            return INVALID_ID
        ids.append(entry_id)
    acknowledged = 0
    for entry_id in ids:
        if entry_id in group.pel:
            group.drop_nack(entry_id)
            acknowledged += 1
    return acknowledged


# --- XPENDING ---------------------------------------------------------------------------------
def parse_xpending(args: list[bytes]):
    """None for the summary form, else (min idle, start, end, count, consumer or None)."""
    n = len(args)
    if n != 3 and not 6 <= n <= 9:
        return SYNTAX
    if n == 3:
        return None
    at, min_idle = 3, 0
    if keyword(args[3]) == b"idle":
        min_idle = parse_int(args[4])
        if min_idle is None:
            return NOT_AN_INTEGER
        if n < 8:
            return SYNTAX
        at = 5
    count = parse_int(args[at + 2])
    if count is None:
        return NOT_AN_INTEGER
    start = parse_interval(args[at], 0, start=True)
    if type(start) is ReplyError:
        return start
    end = parse_interval(args[at + 1], U64, start=False)
    if type(end) is ReplyError:
        return end
    consumer = args[at + 3] if at + 3 < n else None
    return min_idle, start, end, max(count, 0), consumer


_check_xpending = refusal(parse_xpending)


def _reply_xpending(args: list[bytes], result: Result, protocol: int) -> Result:
    if len(args) == 3 and type(result) is list and result[3] is None:
        return [result[0], None, None, NULL_ARRAY]
    return result


@command(
    "xpending",
    -3,
    "readonly",
    group="stream",
    syntax="key group [[IDLE min-idle-time] start end count [consumer]]",
    summary="Return information and entries from a stream consumer group pending entries list, that are "
    "messages fetched but never acknowledged.",
    check=_check_xpending,
    reply=_reply_xpending,
)
def cmd_xpending(ks: Keyspace, args: list[bytes], now: int) -> Result:
    parsed = parse_xpending(args)
    if type(parsed) is ReplyError:
        return parsed
    s = read_stream(ks, args[1], now)
    if s is WRONGTYPE:
        return s
    group = _group_of(s, args[2])
    if group is None:
        return no_key_or_group(args[1], args[2])
    if parsed is None:
        if not group.pel:
            return [0, None, None, None]
        owners = [
            [name, b"%d" % len(group.consumers[name].pel)]
            for name in sorted(group.consumers)
            if group.consumers[name].pel
        ]
        return [len(group.pel), format_id(group.pel_ids[0]), format_id(group.pel_ids[-1]), owners]
    min_idle, start, end, count, consumer_name = parsed
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return []
        ids = consumer.pel
    else:
        ids = group.pel_ids
    out: list = []
    if not count:
        return out
    for entry_id in ids.irange(start, end):
        nack = group.pel[entry_id]
        idle = wrap64(now - nack.time)
        if min_idle and idle < min_idle:
            continue
        out.append([format_id(entry_id), nack.consumer.name, max(idle, 0), wrap64(nack.count)])
        if len(out) == count:
            break
    return out


# --- XCLAIM -----------------------------------------------------------------------------------
class _Claimant:
    """The consumer a claim gives entries to: looked up (its seen-time refreshed) or created when
    the first entry is claimed, as Redis does, so a claim that takes nothing creates nobody."""

    __slots__ = ("ks", "key", "group", "name", "now", "consumer")

    def __init__(self, ks: Keyspace, key: bytes, group: Group, name: bytes, now: int) -> None:
        self.ks, self.key, self.group, self.name, self.now = ks, key, group, name, now
        self.consumer: Consumer | None = None

    def take(self, s: Stream, entry_id: int, nack: Nack, when: int, retries: int, justid: bool) -> list | bytes:
        """Move one pending entry to the consumer; returns its reply item."""
        if self.consumer is None:
            self.consumer = _lookup_consumer(self.ks, self.key, self.group, self.name, self.now)
        consumer = self.consumer
        if nack.consumer is None:  # created by FORCE just now
            nack.consumer = consumer
            consumer.pel.add(entry_id)
        else:
            self.group.move_nack(entry_id, nack, consumer)
        nack.time = when
        if retries >= 0:
            nack.count = retries
        elif not justid:
            nack.count = (nack.count + 1) & U64
        return format_id(entry_id) if justid else s.entry(entry_id)


def parse_xclaim(args: list[bytes], now: int):
    """(min idle, ids, delivery time, retry count or -1, force, justid, last id) or an error; the
    IDs end at the first argument that is not one."""
    min_idle = parse_int(args[4])
    if min_idle is None:
        return ReplyError("ERR Invalid min-idle-time argument for XCLAIM")
    ids = []
    j, n = 5, len(args)
    while j < n:
        entry_id = parse_strict_id(args[j])
        if entry_id is None:
            break
        ids.append(entry_id)
        j += 1
    when, retries, force, justid, last = -1, -1, False, False, 0
    while j < n:
        more = n - 1 - j
        opt = keyword(args[j])
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt in (b"idle", b"time", b"retrycount") and more:
            j += 1
            value = parse_int(args[j])
            if value is None:
                return ReplyError(f"ERR Invalid {opt.upper().decode()} option argument for XCLAIM")
            if opt == b"idle":
                when = wrap64(now - value)
            elif opt == b"time":
                when = value
            else:
                retries = value
        elif opt == b"lastid" and more:
            j += 1
            last = parse_strict_id(args[j])
            if last is None:
                return INVALID_ID
        else:
            return ReplyError(f"ERR Unrecognized XCLAIM option '{text(args[j])}'")
        j += 1
    if when < 0 or when > now:
        when = now
    return max(min_idle, 0), ids, when, retries, force, justid, last


@command(
    "xclaim",
    -6,
    "write fast",
    group="stream",
    syntax="key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] "
    "[RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]",
    summary="Changes (or acquires) ownership of a message in a consumer group, as if the message was "
    "delivered to the specified consumer.",
)
def cmd_xclaim(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    s = write_stream(ks, args[1], ts)
    if s is WRONGTYPE:
        return s
    if s is None:
        ks.notify(KEY_MISS, b"keymiss", args[1])  # Redis looks the stream up for read
    group = _group_of(s, args[2])
    if group is None:
        return no_key_or_group(args[1], args[2])
    parsed = parse_xclaim(args, ts)
    if type(parsed) is ReplyError:
        return parsed
    min_idle, ids, when, retries, force, justid, last = parsed
    if last > group.last_id:
        group.last_id = last
    out = []
    claimant = _Claimant(ks, args[1], group, args[3], ts)
    for entry_id in ids:
        nack = group.pel.get(entry_id)
        if not s.exists(entry_id):
            if nack is not None:
                group.drop_nack(entry_id)
            continue
        if nack is None:
            if not force:
                continue
            nack = Nack(ts, 1, None)
            group.pel[entry_id] = nack
            group.pel_ids.add(entry_id)
        elif min_idle and wrap64(ts - nack.time) < min_idle:
            continue
        out.append(claimant.take(s, entry_id, nack, when, retries, justid))
    return out


# --- XAUTOCLAIM -------------------------------------------------------------------------------
AUTOCLAIM_COUNT = ReplyError("ERR COUNT must be > 0")
AUTOCLAIM_COUNT_MAX = ((1 << 63) - 1) // 16  # LONG_MAX / max(sizeof(streamID), attempts factor)
AUTOCLAIM_ATTEMPTS_FACTOR = 10


def parse_xautoclaim(args: list[bytes]):
    """(min idle, start, count, justid) or an error."""
    min_idle = parse_int(args[4])
    if min_idle is None:
        return ReplyError("ERR Invalid min-idle-time argument for XAUTOCLAIM")
    start = parse_interval(args[5], 0, start=True)
    if type(start) is ReplyError:
        return start
    count, justid = 100, False
    j, n = 6, len(args)
    while j < n:
        opt = keyword(args[j])
        if opt == b"count" and n - 1 - j:
            count = parse_int(args[j + 1])
            if count is None or not 1 <= count <= AUTOCLAIM_COUNT_MAX:
                return AUTOCLAIM_COUNT
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            return SYNTAX
        j += 1
    return max(min_idle, 0), start, count, justid


_check_xautoclaim = refusal(parse_xautoclaim)


@command(
    "xautoclaim",
    -6,
    "write fast",
    group="stream",
    syntax="key group consumer min-idle-time start [COUNT count] [JUSTID]",
    summary="Changes (or acquires) ownership of messages in a consumer group, as if the messages were "
    "delivered to the specified consumer.",
    check=_check_xautoclaim,
)
def cmd_xautoclaim(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_xautoclaim(args)
    if type(parsed) is ReplyError:
        return parsed
    min_idle, start, count, justid = parsed
    s = write_stream(ks, args[1], ts)
    if s is WRONGTYPE:
        return s
    if s is None:
        ks.notify(KEY_MISS, b"keymiss", args[1])  # Redis looks the stream up for read
    group = _group_of(s, args[2])
    if group is None:
        return no_key_or_group(args[1], args[2])
    attempts = count * AUTOCLAIM_ATTEMPTS_FACTOR
    claimed, deleted = [], []
    claimant = _Claimant(ks, args[1], group, args[3], ts)
    pel_ids = group.pel_ids
    cursor = start
    nxt = None
    while True:
        index = pel_ids.bisect_left(cursor)
        nxt = pel_ids[index] if index < len(pel_ids) else None
        if not attempts or not count or nxt is None:
            break
        attempts -= 1
        entry_id = nxt
        cursor = entry_id + 1
        nack = group.pel[entry_id]
        if not s.exists(entry_id):
            group.drop_nack(entry_id)
            deleted.append(format_id(entry_id))
            count -= 1
            continue
        if min_idle and wrap64(ts - nack.time) < min_idle:
            continue
        claimed.append(claimant.take(s, entry_id, nack, ts, -1, justid))
        count -= 1
    return [format_id(nxt) if nxt is not None else b"0-0", claimed, deleted]
