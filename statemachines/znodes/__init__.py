"""The built-in `znodes` state machine: a ZooKeeper-style hierarchical namespace.

Paths, data, versions and ephemeral nodes as ZooKeeper keeps them
(DataTree.java), served as RESP commands:

    ZK.CREATE path data [EPHEMERAL] [SEQUENTIAL] [SESSION id]  -> the created path
    ZK.GET path [WITHSTAT]         -> data, or [data, stat]
    ZK.SET path data [VERSION v]   -> stat          (compare-and-set when v is given; -1 = any)
    ZK.DELETE path [VERSION v]     -> OK
    ZK.CHILDREN path               -> sorted child names
    ZK.EXISTS path                 -> 1 or 0
    ZK.STAT path                   -> stat, or nil
    ZK.SESSION.OPEN ttl_ms         -> session id
    ZK.SESSION.PING id             -> OK
    ZK.SESSION.CLOSE id            -> OK   (deletes the session's ephemeral nodes)

Stat (a map, in ZooKeeper's field order): czxid and mzxid are the log indexes
of the create and of the last data change, pzxid the index of the last change
to the children, ctime/mtime the entries' leader stamps (ts_ms), version the
data version, cversion the children version, ephemeralOwner the owning
session (0 if none), dataLength, numChildren. The log index plays the zxid:
it is the one total order every replica agrees on, whichever protocol runs.

Errors carry ZooKeeper's code names as their first word (KeeperException.Code):
NONODE, NODEEXISTS, BADVERSION, NOTEMPTY, NOCHILDRENFOREPHEMERALS,
SESSIONEXPIRED, BADARGUMENTS.

Sessions. A session id is the log index of its ZK.SESSION.OPEN, so ids are
unique and equal on every replica. A session expires when not pinged within
its ttl, measured on the entries' ts_ms (never a replica's clock). Expiry is
decided through the log, like ZooKeeper's leader-side SessionTracker issuing
closeSession transactions: `housekeeping(now_ms)` on the leader returns one
internal ZK.SESSION.EXPIRE command naming the sessions past their deadline;
apply re-checks each deadline against that entry's ts_ms, so a late, stale
(pinged since) or duplicated expiry is harmless. A session operation (PING,
CLOSE, CREATE ... SESSION id) that reaches apply after its session's deadline
expires it on the spot and fails with SESSIONEXPIRED. ZK.SESSION.EXPIRE is not
among the declared commands, so the RESP frontend never lets a client send it.

Sequential nodes get the parent's cversion as a ten-digit suffix, as in
ZooKeeper (PrepRequestProcessor), so the counter survives snapshots for free.

Determinism: children are kept in dicts (insertion order is replica-equal,
since every replica inserts in log order) and always listed sorted; snapshots
walk paths and sessions in sorted order, so equal states give equal bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

import msgspec

from statemachines import (
    BAD_ENCODING,
    INT64_MAX,
    NOT_AN_INTEGER,
    CommandSpec,
    ReplyError,
    Result,
    decode_args,
    encode_args,
    parse_int,
)

__all__ = ["ZnodesMachine"]

MAGIC = "replicator-znodes"
FORMAT_VERSION = 1
CHUNK_BYTES = 1 << 20
HOUSEKEEPING_SESSIONS_MAX = 64  # sessions one ZK.SESSION.EXPIRE command names
EXPIRE = b"ZK.SESSION.EXPIRE"  # internal: proposed by housekeeping only

TTL_MS_MAX = INT64_MAX // 2  # so that ts_ms + ttl stays an int64 (for any ts_ms before the year 146 million)
BAD_TIMEOUT = ReplyError("ERR invalid session timeout")

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class Znode:
    __slots__ = ("data", "czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "owner", "children")

    def __init__(self, data: bytes, czxid: int, ctime: int, owner: int) -> None:
        self.data = data
        self.czxid = self.mzxid = self.pzxid = czxid
        self.ctime = self.mtime = ctime
        self.version = 0
        self.cversion = 0
        self.owner = owner  # session id of an ephemeral node, else 0
        self.children: dict[str, None] = {}  # names; listed sorted

    def stat(self) -> dict[str, int]:
        return {
            "czxid": self.czxid,
            "mzxid": self.mzxid,
            "pzxid": self.pzxid,
            "ctime": self.ctime,
            "mtime": self.mtime,
            "version": self.version,
            "cversion": self.cversion,
            "aversion": 0,
            "ephemeralOwner": self.owner,
            "dataLength": len(self.data),
            "numChildren": len(self.children),
        }


class Session:
    __slots__ = ("ttl_ms", "deadline_ms", "ephemerals")

    def __init__(self, ttl_ms: int, deadline_ms: int) -> None:
        self.ttl_ms = ttl_ms
        self.deadline_ms = deadline_ms
        self.ephemerals: dict[str, None] = {}


class Tree:
    """The namespace and the sessions; handlers mutate it at one log position."""

    def __init__(self) -> None:
        self.nodes: dict[str, Znode] = {"/": Znode(b"", 0, 0, 0)}
        self.sessions: dict[int, Session] = {}

    # --- sessions ----------------------------------------------------------------
    def live_session(self, sid: int, index: int, ts: int) -> Session | None:
        """The session if it is live at ts; a session past its deadline is expired now."""
        session = self.sessions.get(sid)
        if session is not None and session.deadline_ms <= ts:
            self.close_session(sid, index)
            return None
        return session

    def close_session(self, sid: int, index: int) -> None:
        session = self.sessions.pop(sid)
        for path in sorted(session.ephemerals, reverse=True):  # ephemerals have no children
            self._unlink(path, index)

    # --- nodes ----------------------------------------------------------------------
    def _unlink(self, path: str, index: int) -> None:
        node = self.nodes.pop(path)
        parent_path, name = split(path)
        parent = self.nodes[parent_path]
        del parent.children[name]
        parent.cversion += 1
        parent.pzxid = index
        if node.owner:
            session = self.sessions.get(node.owner)
            if session is not None:
                session.ephemerals.pop(path, None)


# --- paths --------------------------------------------------------------------------------
def split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent or "/", name


def path_error(path: str) -> ReplyError | None:
    """ZooKeeper's PathUtils.validatePath, in short: absolute, no empty, '.' or '..' parts."""
    if not path.startswith("/"):
        return ReplyError(f"BADARGUMENTS path must start with / character: {path!r}")
    if path == "/":
        return None
    if path.endswith("/"):
        return ReplyError(f"BADARGUMENTS path must not end with / character: {path!r}")
    for part in path[1:].split("/"):
        if part in ("", ".", ".."):
            return ReplyError(f"BADARGUMENTS invalid path: {path!r}")
    if "\x00" in path:
        return ReplyError(f"BADARGUMENTS null character not allowed in path: {path!r}")
    return None


def _path(arg: bytes) -> str:
    return arg.decode("utf-8", "surrogateescape")


def _version_option(args: list[bytes], at: int) -> int | ReplyError:
    """[VERSION v] at args[at:]: -1 (any version) when absent."""
    rest = args[at:]
    if not rest:
        return -1
    if len(rest) != 2 or rest[0].upper() != b"VERSION":
        return ReplyError("ERR syntax error")
    version = parse_int(rest[1])
    return NOT_AN_INTEGER if version is None else version


def _create_request(args: list[bytes]) -> tuple[str, str, bool, bool, int] | ReplyError:
    """ZK.CREATE's arguments: (path, parent path, ephemeral, sequential, session id), or the error.
    Pure: the frontend runs it (check_create) before proposing, apply runs it again."""
    ephemeral = sequential = False
    sid = 0
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if opt == b"EPHEMERAL":
            ephemeral = True
        elif opt == b"SEQUENTIAL":
            sequential = True
        elif opt == b"SESSION" and i + 1 < len(args):
            sid = parse_int(args[i + 1]) or 0
            if sid <= 0:
                return NOT_AN_INTEGER
            i += 1
        else:
            return ReplyError("ERR syntax error")
        i += 1
    if ephemeral and not sid:
        return ReplyError("BADARGUMENTS an EPHEMERAL node needs SESSION id")
    path = _path(args[1])
    if sequential and path.endswith("/"):  # "/q/" + SEQUENTIAL names the child "/q/0000000007"
        parent = path[:-1] or "/"
        err = path_error(parent)
    else:
        parent = split(path)[0]
        err = path_error(path)
    return err if err is not None else (path, parent, ephemeral, sequential, sid)


# --- handlers: (tree, args, index, ms) -> Result ----------------------------------------------
def zk_create(t: Tree, args: list[bytes], index: int, ts: int) -> Result:
    request = _create_request(args)
    if isinstance(request, ReplyError):
        return request
    path, parent_path, ephemeral, sequential, sid = request
    data = args[2]
    if path == "/" and not sequential:
        return ReplyError("NODEEXISTS /")
    parent = t.nodes.get(parent_path)
    if parent is None:
        return ReplyError(f"NONODE {parent_path}")
    if parent.owner:
        return ReplyError(f"NOCHILDRENFOREPHEMERALS {parent_path}")
    if sequential:
        path = f"{path}{parent.cversion:010d}"
    if path in t.nodes:
        return ReplyError(f"NODEEXISTS {path}")
    session = None
    if sid:
        session = t.live_session(sid, index, ts)
        if session is None:
            return ReplyError(f"SESSIONEXPIRED {sid}")
    node = Znode(data, index, ts, sid if ephemeral else 0)
    t.nodes[path] = node
    parent.children[split(path)[1]] = None
    parent.cversion += 1
    parent.pzxid = index
    if ephemeral:
        session.ephemerals[path] = None  # type: ignore[union-attr]
    return path.encode("utf-8", "surrogateescape")


def zk_get(t: Tree, args: list[bytes], index: int, now: int) -> Result:
    err = check_get(args)
    if err is not None:
        return err
    path = _path(args[1])
    node = t.nodes.get(path)
    if node is None:
        return path_error(path) or ReplyError(f"NONODE {path}")
    return [node.data, node.stat()] if len(args) == 3 else node.data


def zk_set(t: Tree, args: list[bytes], index: int, ts: int) -> Result:
    version = _version_option(args, 3)
    if isinstance(version, ReplyError):
        return version
    path = _path(args[1])
    node = t.nodes.get(path)
    if node is None:
        return path_error(path) or ReplyError(f"NONODE {path}")
    if version != -1 and version != node.version:
        return ReplyError(f"BADVERSION {path}")
    node.data = args[2]
    node.version += 1
    node.mzxid = index
    node.mtime = ts
    return node.stat()


def zk_delete(t: Tree, args: list[bytes], index: int, ts: int) -> Result:
    version = _version_option(args, 2)
    if isinstance(version, ReplyError):
        return version
    path = _path(args[1])
    if path == "/":
        return ReplyError("BADARGUMENTS the root cannot be deleted")
    node = t.nodes.get(path)
    if node is None:
        return path_error(path) or ReplyError(f"NONODE {path}")
    if version != -1 and version != node.version:
        return ReplyError(f"BADVERSION {path}")
    if node.children:
        return ReplyError(f"NOTEMPTY {path}")
    t._unlink(path, index)
    return "OK"


def zk_children(t: Tree, args: list[bytes], index: int, now: int) -> Result:
    path = _path(args[1])
    node = t.nodes.get(path)
    if node is None:
        return path_error(path) or ReplyError(f"NONODE {path}")
    return [name.encode("utf-8", "surrogateescape") for name in sorted(node.children)]


def zk_exists(t: Tree, args: list[bytes], index: int, now: int) -> Result:
    return 1 if _path(args[1]) in t.nodes else 0


def zk_stat(t: Tree, args: list[bytes], index: int, now: int) -> Result:
    node = t.nodes.get(_path(args[1]))
    return None if node is None else node.stat()


def session_open(t: Tree, args: list[bytes], index: int, ts: int) -> Result:
    ttl = parse_int(args[1])
    if ttl is None or not 0 < ttl <= TTL_MS_MAX:
        return BAD_TIMEOUT
    if index in t.sessions:  # a second open in one entry (MULTI/EXEC) would get the same id
        return ReplyError("ERR one ZK.SESSION.OPEN per transaction: a session id is its log index")
    t.sessions[index] = Session(ttl, ts + ttl)
    return index


def session_ping(t: Tree, args: list[bytes], index: int, ts: int) -> Result:
    sid = parse_int(args[1])
    if sid is None:
        return NOT_AN_INTEGER
    session = t.live_session(sid, index, ts)
    if session is None:
        return ReplyError(f"SESSIONEXPIRED {sid}")
    session.deadline_ms = ts + session.ttl_ms
    return "OK"


def session_close(t: Tree, args: list[bytes], index: int, ts: int) -> Result:
    sid = parse_int(args[1])
    if sid is None:
        return NOT_AN_INTEGER
    if t.live_session(sid, index, ts) is None:
        return ReplyError(f"SESSIONEXPIRED {sid}")
    t.close_session(sid, index)
    return "OK"


def session_expire(t: Tree, args: list[bytes], index: int, ts: int) -> Result:
    """Internal: close those of the named sessions whose deadline has passed at ts."""
    expired = 0
    for arg in args[1:]:
        sid = parse_int(arg)
        session = t.sessions.get(sid) if sid is not None else None
        if session is not None and session.deadline_ms <= ts:
            t.close_session(sid, index)  # type: ignore[arg-type]
            expired += 1
    return expired


# --- the command table -------------------------------------------------------------------------
Handler = Callable[[Tree, list[bytes], int, int], Result]


# Checks: pure validators the RESP frontend runs before proposing (CommandSpec.check), so
# a request with a syntax error never enters the log. apply validates again on its own.
def check_create(args: list[bytes]) -> ReplyError | None:
    request = _create_request(args)
    return request if isinstance(request, ReplyError) else None


def check_get(args: list[bytes]) -> ReplyError | None:
    if len(args) > 3 or (len(args) == 3 and args[2].upper() != b"WITHSTAT"):
        return ReplyError("ERR syntax error")
    return None


def _check_versioned(at: int) -> Callable[[list[bytes]], ReplyError | None]:
    def check(args: list[bytes]) -> ReplyError | None:
        version = _version_option(args, at)
        return version if isinstance(version, ReplyError) else path_error(_path(args[1]))

    return check


def _check_int(error: ReplyError, most: int = INT64_MAX) -> Callable[[list[bytes]], ReplyError | None]:
    def check(args: list[bytes]) -> ReplyError | None:
        value = parse_int(args[1])
        return error if value is None or not 0 < value <= most else None

    return check


def _spec(
    name: str,
    arity: int,
    flags: str,
    keys: bool,
    summary: str,
    syntax: str,
    check: Callable[[list[bytes]], ReplyError | None] | None = None,
) -> CommandSpec:
    return CommandSpec(
        name=name,
        arity=arity,
        flags=frozenset(flags.split()),
        first_key=1 if keys else 0,
        last_key=1 if keys else 0,
        key_step=1 if keys else 0,
        summary=summary,
        group="znodes",
        syntax=syntax,
        check=check,
    )


COMMANDS: list[tuple[CommandSpec, Handler]] = [
    (
        _spec(
            "zk.create",
            -3,
            "write denyoom",
            True,
            "Create a znode; returns its path",
            "path data [EPHEMERAL] [SEQUENTIAL] [SESSION id]",
            check_create,
        ),
        zk_create,
    ),
    (_spec("zk.get", -2, "readonly fast", True, "A znode's data (and stat)", "path [WITHSTAT]", check_get), zk_get),
    (
        _spec(
            "zk.set",
            -3,
            "write denyoom",
            True,
            "Set a znode's data, if at the given version",
            "path data [VERSION version]",
            _check_versioned(3),
        ),
        zk_set,
    ),
    (
        _spec(
            "zk.delete",
            -2,
            "write",
            True,
            "Delete a childless znode, if at the given version",
            "path [VERSION version]",
            _check_versioned(2),
        ),
        zk_delete,
    ),
    (_spec("zk.children", 2, "readonly", True, "A znode's child names, sorted", "path"), zk_children),
    (_spec("zk.exists", 2, "readonly fast", True, "1 if the znode exists", "path"), zk_exists),
    (_spec("zk.stat", 2, "readonly fast", True, "A znode's stat, or nil", "path"), zk_stat),
    (
        _spec(
            "zk.session.open",
            2,
            "write fast",
            False,
            "Open a session; returns its id",
            "ttl_ms",
            _check_int(BAD_TIMEOUT, TTL_MS_MAX),
        ),
        session_open,
    ),
    (
        _spec("zk.session.ping", 2, "write fast", False, "Keep a session alive", "id", _check_int(NOT_AN_INTEGER)),
        session_ping,
    ),
    (
        _spec(
            "zk.session.close",
            2,
            "write",
            False,
            "Close a session and delete its ephemeral nodes",
            "id",
            _check_int(NOT_AN_INTEGER),
        ),
        session_close,
    ),
]

_WRITES: dict[bytes, tuple[Handler, int, str]] = {}
_READS: dict[bytes, tuple[Handler, int, str]] = {}
for _spec_, _handler in COMMANDS:
    _entry = (_handler, _spec_.arity, _spec_.name)
    for _key in (_spec_.name.encode(), _spec_.name.upper().encode()):  # the usual spellings need no .upper()
        _WRITES[_key] = _entry
        if not _spec_.is_write:
            _READS[_key] = _entry
_WRITES[EXPIRE] = (session_expire, -1, EXPIRE.decode().lower())


def _lookup(table: dict, args: list[bytes]) -> tuple[Handler, int, str] | ReplyError:
    entry = table.get(args[0]) or table.get(args[0].upper())
    if entry is None:
        if table is _READS and args[0].upper() in _WRITES:
            return ReplyError(f"ERR '{args[0].decode('utf-8', 'replace').lower()}' is a write: it goes through the log")
        return ReplyError(f"ERR unknown command '{args[0][:128].decode('utf-8', 'replace')}'")
    handler, arity, name = entry
    n = len(args)
    if n != arity and (arity > 0 or n < -arity):
        return ReplyError(f"ERR wrong number of arguments for '{name}' command")
    return entry


class ZnodesMachine:
    """A replicated ZooKeeper-style tree. See the module docstring."""

    name: ClassVar[str] = "znodes"

    def __init__(self) -> None:
        self._tree = Tree()

    def commands(self) -> Iterable[CommandSpec]:
        return [spec for spec, _ in COMMANDS]

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        args = _args(command)
        if isinstance(args, ReplyError):
            return args
        entry = _lookup(_WRITES, args)
        if isinstance(entry, ReplyError):
            return entry
        return entry[0](self._tree, args, index, ts_ms)

    def query(self, request: bytes, now_ms: int) -> Result:
        args = _args(request)
        if isinstance(args, ReplyError):
            return args
        entry = _lookup(_READS, args)
        if isinstance(entry, ReplyError):
            return entry
        return entry[0](self._tree, args, 0, now_ms)

    def housekeeping(self, now_ms: int) -> list[bytes]:
        """One ZK.SESSION.EXPIRE naming sessions past their deadline at the leader's now_ms."""
        due = sorted(sid for sid, s in self._tree.sessions.items() if s.deadline_ms <= now_ms)
        due = due[:HOUSEKEEPING_SESSIONS_MAX]
        return [encode_args([EXPIRE, *(b"%d" % sid for sid in due)])] if due else []

    def snapshot(self) -> Iterator[bytes]:
        return dump(self._tree)

    def restore(self, chunks: Iterable[bytes]) -> None:
        self._tree = load(chunks)  # a bad snapshot raises before the old tree is replaced


def _args(payload: bytes) -> list[bytes] | ReplyError:
    try:
        args = decode_args(payload)
    except msgspec.DecodeError:
        return BAD_ENCODING
    return args if args else BAD_ENCODING


# --- snapshots ----------------------------------------------------------------------------------
# Chunk 0: [MAGIC, FORMAT_VERSION, node count, session count]. Then chunks that are
# msgpack maps: {"n": flat node records} with ten items per record (path, data,
# czxid, mzxid, pzxid, ctime, mtime, version, cversion, owner), paths in sorted
# order; {"s": flat session records} (id, ttl_ms, deadline_ms), ids sorted. Children
# and each session's ephemerals are derived on restore. The records are captured
# when dump() is called (bytes are immutable), so the caller may apply meanwhile.
def dump(t: Tree, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    nodes = [
        (path, n.data, n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.version, n.cversion, n.owner)
        for path, n in sorted(t.nodes.items())
    ]
    sessions = [(sid, s.ttl_ms, s.deadline_ms) for sid, s in sorted(t.sessions.items())]
    return _chunks([MAGIC, FORMAT_VERSION, len(nodes), len(sessions)], nodes, sessions, chunk_bytes)


def _chunks(header: list, nodes: list, sessions: list, chunk_bytes: int) -> Iterator[bytes]:
    yield _encode(header)
    for tag, records in (("n", nodes), ("s", sessions)):
        batch: list = []
        size = 0
        for record in records:
            batch += record
            size += 64 + (len(record[0]) + len(record[1]) if tag == "n" else 0)
            if size >= chunk_bytes:
                yield _encode({tag: batch})
                batch, size = [], 0
        if batch:
            yield _encode({tag: batch})


def load(chunks: Iterable[bytes]) -> Tree:
    it = iter(chunks)
    try:
        header = _decode(next(it))
    except StopIteration:
        return Tree()  # a node snapshot taken before this machine ran: start empty
    if not (isinstance(header, list) and len(header) == 4 and header[0] == MAGIC):
        raise ValueError("not a znodes snapshot")
    if header[1] != FORMAT_VERSION:
        raise ValueError(f"znodes snapshot format {header[1]} is not supported (this build reads {FORMAT_VERSION})")
    t = Tree()
    t.nodes.clear()
    session_rows: list = []
    for chunk in it:
        part = _decode(chunk)
        if "n" in part:
            flat = part["n"]
            for i in range(0, len(flat), 10):
                path, data, czxid, mzxid, pzxid, ctime, mtime, version, cversion, owner = flat[i : i + 10]
                node = Znode(data, czxid, ctime, owner)
                node.mzxid, node.pzxid, node.mtime, node.version, node.cversion = mzxid, pzxid, mtime, version, cversion
                t.nodes[path] = node
        else:
            session_rows += part["s"]
    for i in range(0, len(session_rows), 3):
        sid, ttl, deadline = session_rows[i : i + 3]
        t.sessions[sid] = Session(ttl, deadline)
    if len(t.nodes) != header[2] or len(t.sessions) != header[3] or "/" not in t.nodes:
        raise ValueError(f"znodes snapshot is truncated: {len(t.nodes)} of {header[2]} nodes")
    for path in sorted(t.nodes):  # sorted: children dicts fill in one replica-independent order
        node = t.nodes[path]
        parent, name = split(path)
        if path != "/":
            if parent not in t.nodes:
                raise ValueError(f"znodes snapshot holds {path} without its parent")
            t.nodes[parent].children[name] = None
        if node.owner:
            if node.owner not in t.sessions:
                raise ValueError(f"znodes snapshot holds ephemeral {path} of a session it lacks")
            t.sessions[node.owner].ephemerals[path] = None
    return t
