"""Redis 7.0's configuration parameters: names, aliases, types, ranges, defaults and error texts.

One row per entry of src/config.c's standardConfig table (7.0.15), in its order, with
its flags (IMMUTABLE, HIDDEN, PROTECTED, MULTI_ARG) and the built-in default (what a
redis-server started without a config file answers; redis.conf's sample values differ:
hash-max-listpack-entries is 512 built in, 128 in the sample file). CONFIG SET
parses a value exactly as Redis' setter for its type does (numericParseString +
numericBoundaryCheck, yesnotoi, configEnumGetValue, the special setters) and answers
Redis' error text; the value kept is the one CONFIG GET shows (Redis' getter's form:
"1gb" is kept as 1073741824).

Most parameters have no meaning in a replicated node; they are kept and returned
so clients that tune Redis keep working, and docs/commands.md lists them as accepted
without effect (EFFECTS below names the ones that do something, and how).

Every value is per node: CONFIG SET changes the node the client is connected to,
as it changes one redis-server. Nothing here goes through the log, so set a parameter
on every node when it should hold cluster-wide (requirepass, maxclients).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from frontends.resp.limits import parse_output_buffer_limits
from statemachines.keyevents import INVALID_CLASS, flags_from_string, flags_to_string
from statemachines.kv.keyspace import parse_float

IMMUTABLE, HIDDEN, PROTECTED, MULTI_ARG = 1, 2, 4, 8

# numeric types (Redis' NUMERIC_TYPE_*); numericBoundaryCheck compares UNSIGNED ones as unsigned
INT, UINT, ULONG, LONG_LONG, ULONG_LONG, SIZE_T, SSIZE_T, TIME_T, OFF_T = range(9)
UNSIGNED = frozenset((UINT, ULONG_LONG, SIZE_T))
# numeric parse flags (INTEGER_CONFIG, MEMORY_CONFIG, PERCENT_CONFIG, OCTAL_CONFIG)
INTEGER, MEMORY, PERCENT, OCTAL = 0, 1, 2, 4

# enum tables: (name, value), in config.c's order (the error text lists them so)
MAXMEMORY_POLICY = (
    ("volatile-lru", 1),
    ("volatile-lfu", 2),
    ("volatile-random", 3),
    ("volatile-ttl", 4),
    ("allkeys-lru", 5),
    ("allkeys-lfu", 6),
    ("allkeys-random", 7),
    ("noeviction", 8),
)
SYSLOG_FACILITY = (
    ("user", 8),
    ("local0", 128),
    ("local1", 136),
    ("local2", 144),
    ("local3", 152),
    ("local4", 160),
    ("local5", 168),
    ("local6", 176),
    ("local7", 184),
)
LOGLEVEL = (("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3))
SUPERVISED_MODE = (("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0))
AOF_FSYNC = (("everysec", 2), ("always", 1), ("no", 0))
SHUTDOWN_ON_SIG = (("default", 0), ("save", 1), ("nosave", 2), ("now", 4), ("force", 8))
REPL_DISKLESS_LOAD = (("disabled", 0), ("on-empty-db", 1), ("swapdb", 2))
TLS_AUTH_CLIENTS = (("no", 0), ("yes", 1), ("optional", 2))
OOM_SCORE_ADJ = (("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2))
ACL_PUBSUB_DEFAULT = (("allchannels", 1 << 3), ("resetchannels", 0))
SANITIZE_DUMP_PAYLOAD = (("no", 0), ("yes", 1), ("clients", 2))
PROTECTED_ACTION = (("no", 0), ("yes", 1), ("local", 2))
CLUSTER_PREFERRED_ENDPOINT_TYPE = (("ip", 0), ("hostname", 1), ("unknown-endpoint", 2))
PROPAGATION_ERROR_BEHAVIOR = (("ignore", 0), ("panic", 1), ("panic-on-replicas", 2))

Setter = Callable[["Param", bytes], "bytes | str"]  # the value CONFIG GET will show, or Redis' error text


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: `set` parses a CONFIG SET value as Redis' setter for its type does."""

    name: str
    alias: str | None
    flags: int
    default: bytes
    kind: str  # for the docs: bool, string, enum, int, memory, special
    parse: Setter


def _c_string(value: bytes) -> bytes:
    """A value as C code sees it (strcasecmp, strtoll, zstrdup): up to its first NUL."""
    return value.split(b"\0", 1)[0]


# --- bool, string ------------------------------------------------------------------------
def boolean(name: str, alias: str | None, flags: int, default: str, refuse_yes: str | None = None) -> Param:
    def set_bool(param: Param, value: bytes) -> bytes | str:
        word = _c_string(value).lower()
        if word not in (b"yes", b"no"):
            return "argument must be 'yes' or 'no'"
        if refuse_yes is not None and word == b"yes":  # activedefrag: its is_valid_fn
            return refuse_yes
        return word

    return Param(name, alias, flags, default.encode(), "bool", set_bool)


def string(
    name: str, alias: str | None, flags: int, default: str, valid: Callable[[bytes], str | None] | None = None
) -> Param:
    sds = name in ("requirepass", "masterauth")  # Redis keeps these as sds (binary safe); the others as C strings

    def set_string(param: Param, value: bytes) -> bytes | str:
        value = value if sds else _c_string(value)
        error = valid(value) if valid is not None else None
        return value if error is None else error

    return Param(name, alias, flags, default.encode(), "string", set_string)


ACTIVE_DEFRAG_UNAVAILABLE = (  # isValidActiveDefrag on a build without Redis' own jemalloc, as here
    "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc "
    "like the one shipped by default with the Redis source distribution"
)


def _valid_hostname(value: bytes) -> str | None:
    """isValidAnnouncedHostname."""
    if len(value) >= 256:
        return "Hostnames must be less than 256 characters"
    if any(not (chr(c).isascii() and (chr(c).isalnum() or c in b"-.")) for c in value):
        return "Hostnames may only contain alphanumeric characters, hyphens or dots"
    return None


_TITLE_VARIABLES = {
    b"title": b"",
    b"listen-addr": b"*:0",
    b"server-mode": b"",
    b"config-file": b"-",
    b"port": b"0",
    b"tls-port": b"0",
    b"unixsocket": b"",
}


def _valid_proc_title(value: bytes) -> str | None:
    """validateProcTitleTemplate: sdstemplate expands it ({{ is a brace, {name} a known variable)
    and the expansion, trimmed, is not empty."""
    out, i = bytearray(), 0
    while i < len(value):
        start = value.find(b"{", i)
        if start < 0:
            out += value[i:]
            break
        out += value[i:start]
        if start + 1 == len(value):
            return _BAD_TITLE
        if value[start + 1] == ord("{"):
            out += b"{"
            i = start + 2
            continue
        end = value.find(b"}", start + 1)
        expansion = _TITLE_VARIABLES.get(value[start + 1 : end]) if end > 0 else None
        if expansion is None:
            return _BAD_TITLE
        out += expansion
        i = end + 1
    return None if out.strip(b" ") else _BAD_TITLE


_BAD_TITLE = "template format is invalid or contains unknown variables"


# --- enum --------------------------------------------------------------------------------
def enum(name: str, alias: str | None, flags: int, values: tuple, default: str) -> Param:
    bitflags = bool(flags & MULTI_ARG)
    error = "argument(s) must be one of the following: " + ", ".join(word for word, _ in values)

    def set_enum(param: Param, value: bytes) -> bytes | str:
        words = _split(value) if bitflags else [value]
        if not words or (not bitflags and len(words) != 1):
            return error
        chosen = 0
        for word in words:  # configEnumGetValue: every word must name one, their values or'ed
            word = _c_string(word).lower()
            matched = [v for n, v in values if n.encode() == word]
            if not matched:
                return error
            for v in matched:
                chosen |= v
        if name.startswith("shutdown-on-sig") and chosen & 1 and chosen & 2:  # isValidShutdownOnSigFlags
            return "shutdown options SAVE and NOSAVE can't be used simultaneously"
        return _enum_name(values, chosen, bitflags).encode()

    return Param(name, alias, flags, default.encode(), "enum", set_enum)


def _enum_name(values: tuple, chosen: int, bitflags: bool) -> str:
    """configEnumGetName: the one name of the value, or the flags' names in table order."""
    names, unmatched = [], chosen
    for word, v in values:
        if v == chosen:
            return word
        if bitflags and v and v == unmatched & v:
            names.append(word)
            unmatched &= ~v
    return " ".join(names) if names and not unmatched else "unknown"


def _split(value: bytes) -> list[bytes]:
    """sdssplitlen(value, " "): a MULTI_ARG value's words (an empty value has none)."""
    return value.split(b" ") if value else []


# --- numeric -----------------------------------------------------------------------------
U64 = 1 << 64


def memtoull(word: bytes) -> int | None:
    """Redis' memtoull: digits and an optional unit (b, k, kb, m, mb, g, gb); None if not that.
    Like strtoull and the multiplication there, no overflow check: the result wraps at 2^64."""
    if word[:1] == b"-":
        return None
    digits = len(word) - len(word.lstrip(b"0123456789"))
    unit = _UNITS.get(word[digits:].lower())
    if unit is None or digits >= 128:
        return None
    number = min(int(word[:digits] or b"0"), U64 - 1)  # strtoull saturates; "" is 0
    return number * unit % U64


_UNITS = {b"": 1, b"b": 1, b"k": 1000, b"kb": 1024, b"m": 1000**2, b"mb": 1024**2, b"g": 1000**3, b"gb": 1024**3}


def string2ll(raw: bytes) -> int | None:
    """Redis' string2ll: optional '-', digits, no leading zero, no '+', in int64."""
    if not raw or len(raw) > 20:
        return None
    body = raw[1:] if raw[:1] == b"-" and len(raw) > 1 else raw
    if not body.isdigit() or (body[:1] == b"0" and (len(body) > 1 or body is not raw)):
        return None
    value = int(raw)
    return value if -(1 << 63) <= value < 1 << 63 else None


def _strtoll(word: bytes, base: int, *, saturate: bool = False) -> int | None:
    """strtoll with the whole word consumed (leading space and a sign allowed; an empty word is
    0, as strtoll leaves *endptr at the end); beyond int64 None, or with `saturate` the bound
    strtoll returns (for callers that do not check errno)."""
    text = word.lstrip(b" \t\n\v\f\r")
    if not text:
        return 0 if not word else None
    sign, body = (-1, text[1:]) if text[:1] == b"-" else (1, text[1:] if text[:1] == b"+" else text)
    digits = b"01234567" if base == 8 else b"0123456789"
    if not body or body.strip(digits):
        return None
    significant = body.lstrip(b"0") or b"0"
    value = sign * int(significant, base) if len(significant) < 30 else sign << 64  # longer: beyond int64
    if -(1 << 63) <= value < 1 << 63:
        return value
    return (-(1 << 63) if value < 0 else (1 << 63) - 1) if saturate else None


def _to_signed(value: int) -> int:
    return value - U64 if value >= 1 << 63 else value


def numeric(
    name: str,
    alias: str | None,
    flags: int,
    ctype: int,
    lower: int,
    upper: int,
    default: int,
    parse: int,
    post: Callable[[int], int] | None = None,  # an apply function that adjusts the value (hz)
) -> Param:
    unsigned = ctype in UNSIGNED

    def show(value: int) -> bytes:  # numericConfigGet
        if parse & PERCENT and value < 0:
            return b"%d%%" % -value
        if parse & MEMORY:
            return b"%d" % (value % U64)
        if parse & OCTAL:
            return b"%o" % (value % U64)
        return b"%d" % value

    def set_numeric(param: Param, value: bytes) -> bytes | str:
        number = None
        if parse & MEMORY:
            parsed = memtoull(_c_string(value))
            number = None if parsed is None else _to_signed(parsed)
        if number is None and parse & PERCENT and len(value) > 1 and value.endswith(b"%"):
            percent = string2ll(value[:-1])
            if percent is not None and percent >= 0:
                number = -percent
        if number is None and parse & OCTAL:
            number = _strtoll(_c_string(value), 8)
        if number is None and not parse:
            number = string2ll(value)
        if number is None:
            if parse & MEMORY and parse & PERCENT:
                return "argument must be a memory or percent value"
            if parse & MEMORY:
                return "argument must be a memory value"
            if parse & OCTAL:
                return "argument couldn't be parsed as an octal number"
            return "argument couldn't be parsed into an integer"
        if unsigned:
            if not lower <= number % U64 <= upper:
                spelled = (b"%o and %o" if parse & OCTAL else b"%d and %d") % (lower, upper)
                return f"argument must be between {spelled.decode()} inclusive"
        elif parse & PERCENT and number < 0:
            if number < lower:
                return f"percentage argument must be less or equal to {-lower}"
        elif not lower <= number <= upper:
            return f"argument must be between {lower} and {upper} inclusive"
        return show(post(number) if post else number)

    kind = "memory" if parse & MEMORY else "int"
    return Param(name, alias, flags, show(default), kind, set_numeric)


def _cap_hz(hz: int) -> int:
    """updateHZ: any value is taken, and held to 1..500."""
    return min(max(hz, 1), 500)


# --- special -----------------------------------------------------------------------------
def _set_save(param: Param, value: bytes) -> bytes | str:
    """setConfigSaveOption: pairs of <seconds >= 1> <changes >= 0>; "" is none."""
    words = _split(value)
    if len(words) == 1 and words[0] == b"":
        words = []
    if len(words) % 2:
        return "Invalid save parameters"
    numbers = []
    for j, word in enumerate(words):
        number = _strtoll(_c_string(word), 10, saturate=True)
        if number is None or number < (1 if j % 2 == 0 else 0):
            return "Invalid save parameters"
        numbers.append(number if j % 2 == 0 else (number + (1 << 31)) % (1 << 32) - (1 << 31))  # changes: a C int
    return b" ".join(b"%d %d" % (numbers[j], numbers[j + 1]) for j in range(0, len(numbers), 2))


def _set_oom_values(param: Param, value: bytes) -> bytes | str:
    """setConfigOOMScoreAdjValuesOption: three integers in -2000..2000."""
    words = _split(value)
    if len(words) != 3:
        return "wrong number of arguments"
    numbers = [_strtoll(_c_string(word), 10, saturate=True) for word in words]
    if any(n is None or not -2000 <= n <= 2000 for n in numbers):
        return "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
    return b" ".join(b"%d" % n for n in numbers)


def _set_keyspace_events(param: Param, value: bytes) -> bytes | str:
    """keyspaceEventsStringToFlags, then keyspaceEventsFlagsToString (the form GET shows)."""
    flags = flags_from_string(value)
    return INVALID_CLASS if flags is None else flags_to_string(flags).encode()


def _set_bind(param: Param, value: bytes) -> bytes | str:
    words = _split(value)
    if len(words) > 16:
        return "Too many bind addresses specified."
    return value


def _set_percentiles(param: Param, value: bytes) -> bytes | str:
    """setConfigLatencyTrackingInfoPercentilesOutputOption: doubles in 0..100 ("" is none)."""
    words = _split(value)
    if len(words) == 1 and words[0] == b"":
        words = []
    shown = []
    for word in words:
        number = parse_float(word)  # Redis' string2d
        if number is None:
            return "Invalid latency-tracking-info-percentiles parameters"
        if not 0.0 <= number <= 100.0:
            return "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        text = f"{number:f}"
        shown.append(text.rstrip("0").rstrip(".") if "." in text else text)  # trimDoubleString
    return " ".join(shown).encode()


def _set_client_output_buffer_limit(param: Param, value: bytes) -> bytes | str:
    parsed = parse_output_buffer_limits(value)
    return parsed if isinstance(parsed, str) else value


def _refused(param: Param, value: bytes) -> bytes | str:  # immutable or protected: never reached
    return "can't set immutable config"


_SPECIAL_SETTERS = {
    "save": _set_save,
    "client-output-buffer-limit": _set_client_output_buffer_limit,
    "oom-score-adj-values": _set_oom_values,
    "notify-keyspace-events": _set_keyspace_events,
    "bind": _set_bind,
    "latency-tracking-info-percentiles": _set_percentiles,
}
_SPECIAL_DEFAULTS = {  # "dir" shows the process' working directory (ConfigStore)
    "save": "",  # Redis' "3600 1 300 100 60 10000" drives RDB saves, which a node does not make
    "client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    "oom-score-adj-values": "0 200 800",
    "bind": "* -::*",
    "latency-tracking-info-percentiles": "50 99 99.9",
}


def special(name: str, alias: str | None, flags: int) -> Param:
    return Param(
        name, alias, flags, _SPECIAL_DEFAULTS.get(name, "").encode(), "special", _SPECIAL_SETTERS.get(name, _refused)
    )


PARAMS: tuple[Param, ...] = (
    boolean("rdbchecksum", None, IMMUTABLE, "yes"),
    boolean("daemonize", None, IMMUTABLE, "no"),
    boolean("io-threads-do-reads", None, IMMUTABLE, "no"),
    boolean("always-show-logo", None, IMMUTABLE, "no"),
    boolean("protected-mode", None, 0, "yes"),
    boolean("rdbcompression", None, 0, "yes"),
    boolean("rdb-del-sync-files", None, 0, "no"),
    boolean("activerehashing", None, 0, "yes"),
    boolean("stop-writes-on-bgsave-error", None, 0, "yes"),
    boolean("set-proc-title", None, IMMUTABLE, "yes"),
    boolean("dynamic-hz", None, 0, "yes"),
    boolean("lazyfree-lazy-eviction", None, 0, "no"),
    boolean("lazyfree-lazy-expire", None, 0, "no"),
    boolean("lazyfree-lazy-server-del", None, 0, "no"),
    boolean("lazyfree-lazy-user-del", None, 0, "no"),
    boolean("lazyfree-lazy-user-flush", None, 0, "no"),
    boolean("repl-disable-tcp-nodelay", None, 0, "no"),
    boolean("repl-diskless-sync", None, 0, "yes"),
    boolean("aof-rewrite-incremental-fsync", None, 0, "yes"),
    boolean("no-appendfsync-on-rewrite", None, 0, "no"),
    boolean("cluster-require-full-coverage", None, 0, "yes"),
    boolean("rdb-save-incremental-fsync", None, 0, "yes"),
    boolean("aof-load-truncated", None, 0, "yes"),
    boolean("aof-use-rdb-preamble", None, 0, "yes"),
    boolean("aof-timestamp-enabled", None, 0, "no"),
    boolean("cluster-replica-no-failover", "cluster-slave-no-failover", 0, "no"),
    boolean("replica-lazy-flush", "slave-lazy-flush", 0, "no"),
    boolean("replica-serve-stale-data", "slave-serve-stale-data", 0, "yes"),
    boolean("replica-read-only", "slave-read-only", 0, "yes"),
    boolean("replica-ignore-maxmemory", "slave-ignore-maxmemory", 0, "yes"),
    boolean("jemalloc-bg-thread", None, 0, "yes"),
    boolean("activedefrag", None, 0, "no", refuse_yes=ACTIVE_DEFRAG_UNAVAILABLE),
    boolean("syslog-enabled", None, IMMUTABLE, "no"),
    boolean("cluster-enabled", None, IMMUTABLE, "no"),
    boolean("appendonly", None, 0, "no"),
    boolean("cluster-allow-reads-when-down", None, 0, "no"),
    boolean("cluster-allow-pubsubshard-when-down", None, 0, "yes"),
    boolean("crash-log-enabled", None, 0, "yes"),
    boolean("crash-memcheck-enabled", None, 0, "yes"),
    boolean("use-exit-on-panic", None, HIDDEN, "no"),
    boolean("disable-thp", None, IMMUTABLE, "yes"),
    boolean("cluster-allow-replica-migration", None, 0, "yes"),
    boolean("replica-announced", None, 0, "yes"),
    boolean("latency-tracking", None, 0, "yes"),
    boolean("aof-disable-auto-gc", None, 0, "no"),
    boolean("replica-ignore-disk-write-errors", None, 0, "no"),
    string("aclfile", None, IMMUTABLE, ""),
    string("unixsocket", None, IMMUTABLE, ""),
    string("pidfile", None, IMMUTABLE, ""),
    string("replica-announce-ip", "slave-announce-ip", 0, ""),
    string("masteruser", None, 0, ""),
    string("cluster-announce-ip", None, 0, ""),
    string("cluster-config-file", None, IMMUTABLE, "nodes.conf"),
    string("cluster-announce-hostname", None, 0, "", valid=_valid_hostname),
    string("syslog-ident", None, IMMUTABLE, "redis"),
    string("dbfilename", None, PROTECTED, "dump.rdb"),
    string("appendfilename", None, IMMUTABLE, "appendonly.aof"),
    string("appenddirname", None, IMMUTABLE, "appendonlydir"),
    string("server_cpulist", None, IMMUTABLE, ""),
    string("bio_cpulist", None, IMMUTABLE, ""),
    string("aof_rewrite_cpulist", None, IMMUTABLE, ""),
    string("bgsave_cpulist", None, IMMUTABLE, ""),
    string("ignore-warnings", None, 0, ""),
    string("proc-title-template", None, 0, "{title} {listen-addr} {server-mode}", valid=_valid_proc_title),
    string("bind-source-addr", None, 0, ""),
    string("logfile", None, IMMUTABLE, ""),
    string("masterauth", None, 0, ""),
    string("requirepass", None, 0, ""),
    enum("supervised", None, IMMUTABLE, SUPERVISED_MODE, "no"),
    enum("syslog-facility", None, IMMUTABLE, SYSLOG_FACILITY, "local0"),
    enum("repl-diskless-load", None, 0, REPL_DISKLESS_LOAD, "disabled"),
    enum("loglevel", None, 0, LOGLEVEL, "notice"),
    enum("maxmemory-policy", None, 0, MAXMEMORY_POLICY, "noeviction"),
    enum("appendfsync", None, 0, AOF_FSYNC, "everysec"),
    enum("oom-score-adj", None, 0, OOM_SCORE_ADJ, "no"),
    enum("acl-pubsub-default", None, 0, ACL_PUBSUB_DEFAULT, "resetchannels"),
    enum("sanitize-dump-payload", None, 0, SANITIZE_DUMP_PAYLOAD, "no"),
    enum("enable-protected-configs", None, IMMUTABLE, PROTECTED_ACTION, "no"),
    enum("enable-debug-command", None, IMMUTABLE, PROTECTED_ACTION, "no"),
    enum("enable-module-command", None, IMMUTABLE, PROTECTED_ACTION, "no"),
    enum("cluster-preferred-endpoint-type", None, 0, CLUSTER_PREFERRED_ENDPOINT_TYPE, "ip"),
    enum("propagation-error-behavior", None, 0, PROPAGATION_ERROR_BEHAVIOR, "ignore"),
    enum("shutdown-on-sigint", None, MULTI_ARG, SHUTDOWN_ON_SIG, "default"),
    enum("shutdown-on-sigterm", None, MULTI_ARG, SHUTDOWN_ON_SIG, "default"),
    numeric("databases", None, IMMUTABLE, INT, 1, 2147483647, 16, INTEGER),
    numeric("port", None, 0, INT, 0, 65535, 6379, INTEGER),
    numeric("io-threads", None, IMMUTABLE, INT, 1, 128, 1, INTEGER),
    numeric("auto-aof-rewrite-percentage", None, 0, INT, 0, 2147483647, 100, INTEGER),
    numeric("cluster-replica-validity-factor", "cluster-slave-validity-factor", 0, INT, 0, 2147483647, 10, INTEGER),
    numeric("list-max-listpack-size", "list-max-ziplist-size", 0, INT, -2147483648, 2147483647, -2, INTEGER),
    numeric("tcp-keepalive", None, 0, INT, 0, 2147483647, 300, INTEGER),
    numeric("cluster-migration-barrier", None, 0, INT, 0, 2147483647, 1, INTEGER),
    numeric("active-defrag-cycle-min", None, 0, INT, 1, 99, 1, INTEGER),
    numeric("active-defrag-cycle-max", None, 0, INT, 1, 99, 25, INTEGER),
    numeric("active-defrag-threshold-lower", None, 0, INT, 0, 1000, 10, INTEGER),
    numeric("active-defrag-threshold-upper", None, 0, INT, 0, 1000, 100, INTEGER),
    numeric("lfu-log-factor", None, 0, INT, 0, 2147483647, 10, INTEGER),
    numeric("lfu-decay-time", None, 0, INT, 0, 2147483647, 1, INTEGER),
    numeric("replica-priority", "slave-priority", 0, INT, 0, 2147483647, 100, INTEGER),
    numeric("repl-diskless-sync-delay", None, 0, INT, 0, 2147483647, 5, INTEGER),
    numeric("maxmemory-samples", None, 0, INT, 1, 2147483647, 5, INTEGER),
    numeric("maxmemory-eviction-tenacity", None, 0, INT, 0, 100, 10, INTEGER),
    numeric("timeout", None, 0, INT, 0, 2147483647, 0, INTEGER),
    numeric("replica-announce-port", "slave-announce-port", 0, INT, 0, 65535, 0, INTEGER),
    numeric("tcp-backlog", None, IMMUTABLE, INT, 0, 2147483647, 511, INTEGER),
    numeric("cluster-port", None, IMMUTABLE, INT, 0, 65535, 0, INTEGER),
    numeric("cluster-announce-bus-port", None, 0, INT, 0, 65535, 0, INTEGER),
    numeric("cluster-announce-port", None, 0, INT, 0, 65535, 0, INTEGER),
    numeric("cluster-announce-tls-port", None, 0, INT, 0, 65535, 0, INTEGER),
    numeric("repl-timeout", None, 0, INT, 1, 2147483647, 60, INTEGER),
    numeric("repl-ping-replica-period", "repl-ping-slave-period", 0, INT, 1, 2147483647, 10, INTEGER),
    numeric("list-compress-depth", None, 0, INT, 0, 2147483647, 0, INTEGER),
    numeric("rdb-key-save-delay", None, HIDDEN, INT, -2147483648, 2147483647, 0, INTEGER),
    numeric("key-load-delay", None, HIDDEN, INT, -2147483648, 2147483647, 0, INTEGER),
    numeric("active-expire-effort", None, 0, INT, 1, 10, 1, INTEGER),
    numeric("hz", None, 0, INT, 0, 2147483647, 10, INTEGER, post=_cap_hz),
    numeric("min-replicas-to-write", "min-slaves-to-write", 0, INT, 0, 2147483647, 0, INTEGER),
    numeric("min-replicas-max-lag", "min-slaves-max-lag", 0, INT, 0, 2147483647, 10, INTEGER),
    numeric("watchdog-period", None, HIDDEN, INT, 0, 2147483647, 0, INTEGER),
    numeric("shutdown-timeout", None, 0, INT, 0, 2147483647, 10, INTEGER),
    numeric("repl-diskless-sync-max-replicas", None, 0, INT, 0, 2147483647, 0, INTEGER),
    numeric("maxclients", None, 0, UINT, 1, 4294967295, 10000, INTEGER),
    numeric("unixsocketperm", None, IMMUTABLE, UINT, 0, 511, 0, OCTAL),
    numeric("socket-mark-id", None, IMMUTABLE, UINT, 0, 4294967295, 0, INTEGER),
    numeric("active-defrag-max-scan-fields", None, 0, ULONG, 1, 9223372036854775807, 1000, INTEGER),
    numeric("slowlog-max-len", None, 0, ULONG, 0, 9223372036854775807, 128, INTEGER),
    numeric("acllog-max-len", None, 0, ULONG, 0, 9223372036854775807, 128, INTEGER),
    numeric("busy-reply-threshold", "lua-time-limit", 0, LONG_LONG, 0, 9223372036854775807, 5000, INTEGER),
    numeric("cluster-node-timeout", None, 0, LONG_LONG, 0, 9223372036854775807, 15000, INTEGER),
    numeric("slowlog-log-slower-than", None, 0, LONG_LONG, -1, 9223372036854775807, 10000, INTEGER),
    numeric("latency-monitor-threshold", None, 0, LONG_LONG, 0, 9223372036854775807, 0, INTEGER),
    numeric("proto-max-bulk-len", None, 0, LONG_LONG, 1048576, 9223372036854775807, 536870912, MEMORY),
    numeric("stream-node-max-entries", None, 0, LONG_LONG, 0, 9223372036854775807, 100, INTEGER),
    numeric("repl-backlog-size", None, 0, LONG_LONG, 1, 9223372036854775807, 1048576, MEMORY),
    numeric("maxmemory", None, 0, ULONG_LONG, 0, 18446744073709551615, 0, MEMORY),
    numeric("cluster-link-sendbuf-limit", None, 0, ULONG_LONG, 0, 18446744073709551615, 0, MEMORY),
    numeric("hash-max-listpack-entries", "hash-max-ziplist-entries", 0, SIZE_T, 0, 9223372036854775807, 512, INTEGER),
    numeric("set-max-intset-entries", None, 0, SIZE_T, 0, 9223372036854775807, 512, INTEGER),
    numeric("zset-max-listpack-entries", "zset-max-ziplist-entries", 0, SIZE_T, 0, 9223372036854775807, 128, INTEGER),
    numeric("active-defrag-ignore-bytes", None, 0, SIZE_T, 1, 9223372036854775807, 104857600, MEMORY),
    numeric("hash-max-listpack-value", "hash-max-ziplist-value", 0, SIZE_T, 0, 9223372036854775807, 64, MEMORY),
    numeric("stream-node-max-bytes", None, 0, SIZE_T, 0, 9223372036854775807, 4096, MEMORY),
    numeric("zset-max-listpack-value", "zset-max-ziplist-value", 0, SIZE_T, 0, 9223372036854775807, 64, MEMORY),
    numeric("hll-sparse-max-bytes", None, 0, SIZE_T, 0, 9223372036854775807, 3000, MEMORY),
    numeric("tracking-table-max-keys", None, 0, SIZE_T, 0, 9223372036854775807, 1000000, INTEGER),
    numeric("client-query-buffer-limit", None, 0, SIZE_T, 1048576, 9223372036854775807, 1073741824, MEMORY),
    numeric("maxmemory-clients", None, 0, SSIZE_T, -100, 9223372036854775807, 0, MEMORY | PERCENT),
    numeric("repl-backlog-ttl", None, 0, TIME_T, 0, 9223372036854775807, 3600, INTEGER),
    numeric("auto-aof-rewrite-min-size", None, 0, OFF_T, 0, 9223372036854775807, 67108864, MEMORY),
    numeric("loading-process-events-interval-bytes", None, HIDDEN, OFF_T, 1024, 2147483647, 2097152, INTEGER),
    numeric("tls-port", None, 0, INT, 0, 65535, 0, INTEGER),
    numeric("tls-session-cache-size", None, 0, INT, 0, 2147483647, 20480, INTEGER),
    numeric("tls-session-cache-timeout", None, 0, INT, 0, 2147483647, 300, INTEGER),
    boolean("tls-cluster", None, 0, "no"),
    boolean("tls-replication", None, 0, "no"),
    enum("tls-auth-clients", None, 0, TLS_AUTH_CLIENTS, "yes"),
    boolean("tls-prefer-server-ciphers", None, 0, "no"),
    boolean("tls-session-caching", None, 0, "yes"),
    string("tls-cert-file", None, 0, ""),
    string("tls-key-file", None, 0, ""),
    string("tls-key-file-pass", None, 0, ""),
    string("tls-client-cert-file", None, 0, ""),
    string("tls-client-key-file", None, 0, ""),
    string("tls-client-key-file-pass", None, 0, ""),
    string("tls-dh-params-file", None, 0, ""),
    string("tls-ca-cert-file", None, 0, ""),
    string("tls-ca-cert-dir", None, 0, ""),
    string("tls-protocols", None, 0, ""),
    string("tls-ciphers", None, 0, ""),
    string("tls-ciphersuites", None, 0, ""),
    special("dir", None, PROTECTED),
    special("save", None, MULTI_ARG),
    special("client-output-buffer-limit", None, MULTI_ARG),
    special("oom-score-adj-values", None, MULTI_ARG),
    special("notify-keyspace-events", None, 0),
    special("bind", None, MULTI_ARG),
    special("replicaof", "slaveof", IMMUTABLE | MULTI_ARG),
    special("latency-tracking-info-percentiles", None, MULTI_ARG),
)

BY_NAME: dict[str, Param] = {}
for _param in PARAMS:
    BY_NAME[_param.name] = _param
    if _param.alias:
        BY_NAME[_param.alias] = _param

# The parameters that do something on a node, and what (docs/commands.md lists the others
# as accepted without effect). Per node, like everything CONFIG SET changes.
EFFECTS = {
    "maxclients": "the most client connections this node serves",
    "requirepass": "the default user's password on this node",
    "client-output-buffer-limit": "the `normal` class: a client whose unsent replies pass the hard limit is closed",
    "hash-max-listpack-entries": "OBJECT ENCODING: a hash with more fields is a hashtable",
    "hash-max-listpack-value": "OBJECT ENCODING: a hash with a longer field or value is a hashtable",
    "zset-max-listpack-entries": "OBJECT ENCODING: a sorted set with more members is a skiplist",
    "zset-max-listpack-value": "OBJECT ENCODING: a sorted set with a longer member is a skiplist",
    "set-max-intset-entries": "OBJECT ENCODING: a set of more integers is a hashtable",
    "maxmemory-policy": "OBJECT FREQ answers only under an LFU policy (no eviction here: the value is kept)",
    "port": "shows the port this node serves RESP on (fixed at start)",
    "bind": "shows the address this node serves RESP on (fixed at start)",
    "proto-max-bulk-len": "the longest bulk string a request may carry (fixed at start)",
    "client-query-buffer-limit": "the most a client's unparsed input may hold (fixed at start)",
    "databases": "the number of databases (fixed at start)",
    "notify-keyspace-events": "the keyspace notifications this node publishes to its subscribers (Redis' classes)",
    "tls-port": "shows the port this node serves RESP over TLS on (fixed at start)",
    "tls-cert-file": "the TLS port's certificate: set, it is reloaded for new connections",
    "tls-key-file": "the TLS port's private key: set, it is reloaded for new connections",
    "tls-ca-cert-file": "the CA that clients' certificates must chain to: set, it is reloaded",
    "tls-auth-clients": "whether TLS clients must (yes), may (optional) or need not (no) show a certificate",
    "tls-protocols": "the TLS versions the TLS port accepts",
    "tls-ciphers": "the TLS 1.2 ciphers the TLS port accepts",
    "tls-ciphersuites": "checked: Python's ssl offers every TLS 1.3 suite OpenSSL enables",
}

# Modifiable in Redis, fixed at start here (the node's listener and request parser are built
# from them): CONFIG SET checks the value as Redis does, then refuses "can't set immutable config".
FIXED_HERE = frozenset(("port", "bind", "proto-max-bulk-len", "client-query-buffer-limit", "tls-port"))


def lookup(name: bytes) -> Param | None:
    """lookupConfig: names are matched without regard to case."""
    return BY_NAME.get(name.decode("latin-1").lower())


class ConfigStore:
    """One node's parameter values, as CONFIG GET shows them (bytes), by canonical name.

    The parameters the server owns (maxclients, requirepass, port, ...: ServerView.config_params)
    are shown from the server instead; this holds the rest, which CONFIG SET may change.
    """

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {param.name: param.default for param in PARAMS}
        self.values["dir"] = os.getcwdb()  # Redis shows its working directory

    def threshold(self, name: str) -> int:
        """A numeric parameter's value (the encoding thresholds OBJECT ENCODING reads)."""
        return int(self.values[name])


def parse_set(args: list[bytes]) -> list[tuple[Param, bytes]] | str:
    """CONFIG SET's pairs [name, value, ...] checked as configSetCommand checks them: every
    name known, settable and once, then every value parsed in order; the first problem is
    the answer (Redis' whole error text after "ERR "), else (param, value to show) pairs."""
    pairs: list[tuple[Param, bytes]] = []
    for name, value in zip(args[::2], args[1::2]):
        param = lookup(name)
        shown = name.decode("utf-8", "surrogateescape")
        if param is None:
            return f"Unknown option or number of arguments for CONFIG SET - '{shown}'"
        if param.flags & (IMMUTABLE | PROTECTED):
            why = "immutable" if param.flags & IMMUTABLE else "protected"
            return f"CONFIG SET failed (possibly related to argument '{shown}') - can't set {why} config"
        if any(seen.lower() == name.lower() for seen in args[: len(pairs) * 2 : 2]):  # an alias is another entry
            return f"CONFIG SET failed (possibly related to argument '{shown}') - duplicate parameter"
        pairs.append((param, value))
    checked = []
    for (param, value), name in zip(pairs, args[::2]):
        registered = name.decode("latin-1").lower()  # Redis names the config by the spelling it was found under
        result = param.parse(param, value)
        if isinstance(result, str):
            return f"CONFIG SET failed (possibly related to argument '{registered}') - {result}"
        if param.name in FIXED_HERE:
            return f"CONFIG SET failed (possibly related to argument '{registered}') - can't set immutable config"
        checked.append((param, result))
    return checked
