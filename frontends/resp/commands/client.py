"""CLIENT and its subcommands, and MONITOR: this connection's name, library and modes (tracking,
replies, pause, no-evict), and the list of every connection of the server.

CLIENT UNBLOCK ends a wait of frontends/resp/blocking.py."""

from __future__ import annotations

from frontends.resp.commands.entry import (
    IMMEDIATE,
    NO_REPLY,
    OK,
    Close,
    ServerView,
    container,
    frontend_command,
    help_handler,
)
from frontends.resp.commands.errors import BAD_NAME, NOT_INTEGER, SYNTAX, c_text, text
from frontends.resp.pause import ClientPause
from frontends.resp.protocol import string2ll
from frontends.resp.replies import Replies, RespSet, Verbatim
from frontends.resp.session import Session, valid_client_name
from frontends.resp.tracking import ClientTracking
from statemachines import ReplyError, Result


def cmd_client_id(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return session.id


def cmd_client_setname(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if not valid_client_name(args[2]):
        return BAD_NAME
    session.name = args[2] or None
    return OK


def cmd_client_getname(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return session.name


def cmd_client_setinfo(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    attr = args[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        return ReplyError(f"ERR Unrecognized option '{c_text(args[2], 128)}'")
    if not valid_client_name(args[3]):
        return ReplyError(f"ERR {text(attr)} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        session.lib_name = args[3]
    else:
        session.lib_ver = args[3]
    return OK


def _flags(gate: ServerView, session: Session) -> str:
    """Redis' catClientInfoString flags: the letters of the modes this connection is in."""
    flags = ""
    if session.monitor:
        flags += "O"
    if session.pubsub is not None:
        flags += "P"
    if session.multi is not None:
        flags += "x"
    if gate.blocked.is_blocked(session.id):
        flags += "b"
    tracking = session.tracking
    if tracking is not None:
        flags += "t"
        if tracking.broken_redirect:
            flags += "R"
        if tracking.bcast:
            flags += "B"
    if session.no_evict:
        flags += "e"
    return flags or "N"


def _client_line(gate: ServerView, session: Session) -> str:
    """One line of CLIENT LIST / CLIENT INFO, Redis 7.0's fields in its order (what this server does
    not keep per connection - its query and reply buffers - shows 0), then 7.2's lib-name and lib-ver
    and this server's own: the connection's read consistency and the highest log index it has seen."""
    now = gate.now_s()
    subs = session.pubsub
    tracking = session.tracking
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} fd={session.fd} name={text(session.name or b'')} "
        f"age={int(now - session.created_s)} idle={int(now - session.last_command_s)} flags={_flags(gate, session)} "
        f"db={session.db} sub={len(subs.channels) if subs else 0} psub={len(subs.patterns) if subs else 0} "
        f"ssub={len(subs.shard_channels) if subs else 0} "
        f"multi={-1 if session.multi is None else len(session.multi)} qbuf=0 qbuf-free=0 argv-mem=0 "
        f"multi-mem={0 if session.multi is None else session.multi_bytes} rbs=0 rbp=0 obl=0 oll=0 omem=0 "
        f"tot-mem=0 events=r cmd={session.last_command or 'NULL'} user=default "
        f"redir={-1 if tracking is None else tracking.redirect} resp={session.protocol} "
        f"lib-name={text(session.lib_name)} lib-ver={text(session.lib_ver)} "
        f"read-consistency={session.consistency.value} seen-index={session.seen_index}"
    )


def cmd_client_info(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return Verbatim((_client_line(gate, session) + "\n").encode("utf-8", "surrogateescape"))


_CLIENT_TYPES = {b"normal", b"master", b"slave", b"replica", b"pubsub"}


def _client_type(session: Session) -> bytes:
    """Redis' getClientType for the connections a node has: pubsub while subscribed, else normal
    (a MONITOR connection too)."""
    return b"normal" if session.pubsub is None else b"pubsub"


def cmd_client_list(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CLIENT LIST [TYPE type | ID id ...]: Redis 7.0's options and errors."""
    chosen = gate.sessions()
    if len(args) == 4 and args[2].lower() == b"type":
        ctype = args[3].lower()
        if ctype not in _CLIENT_TYPES:
            return ReplyError(f"ERR Unknown client type '{c_text(args[3], 1 << 16)}'")
        ctype = b"slave" if ctype == b"replica" else ctype
        chosen = [other for other in chosen if _client_type(other) == ctype]
    elif len(args) > 3 and args[2].lower() == b"id":
        by_id = {other.id: other for other in chosen}
        chosen = []
        for raw in args[3:]:
            client_id = string2ll(raw)
            if client_id is None:
                return ReplyError("ERR Invalid client ID")
            if client_id in by_id:
                chosen.append(by_id[client_id])
    elif len(args) != 2:
        return SYNTAX
    lines = "".join(_client_line(gate, other) + "\n" for other in chosen)
    return Verbatim(lines.encode("utf-8", "surrogateescape"))


def cmd_client_unblock(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if that client was waiting in a blocking command
    (frontends/resp/blocking.py; it then gets its command's nil, or -UNBLOCKED), else 0."""
    if len(args) > 4:
        return ReplyError(
            f"ERR unknown subcommand or wrong number of arguments for '{text(args[1])}'. Try CLIENT HELP."
        )
    error = False
    if len(args) == 4:
        reason = args[3].lower()
        if reason not in (b"timeout", b"error"):
            return ReplyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    client_id = string2ll(args[2])
    if client_id is None:
        return ReplyError("ERR value is not an integer or out of range")
    return 1 if gate.blocked.unblock(client_id, error) else 0


def cmd_client_kill(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CLIENT KILL ip:port (old form: OK or "No such client", may kill the caller), or
    CLIENT KILL <ID id | ADDR ip:port | LADDR ip:port | TYPE type | USER name | SKIPME yes/no> ...
    (the number killed; the caller is skipped unless SKIPME no). Redis 7.0's parser and errors."""
    old_form = len(args) == 3
    client_id = addr = laddr = ctype = None
    skipme = not old_form
    if old_form:
        addr = args[2]
    else:
        i = 2
        while i < len(args):
            opt = args[i].lower()
            more = i + 1 < len(args)
            value = args[i + 1] if more else b""
            if opt == b"id" and more:
                client_id = string2ll(value)
                if client_id is None or client_id < 1:
                    return ReplyError("ERR client-id should be greater than 0")
            elif opt == b"type" and more:
                ctype = value.lower()
                if ctype not in _CLIENT_TYPES:
                    return ReplyError(f"ERR Unknown client type '{c_text(value, 1 << 16)}'")
            elif opt == b"addr" and more:
                addr = value
            elif opt == b"laddr" and more:
                laddr = value
            elif opt == b"user" and more:
                if value != b"default":
                    return ReplyError(f"ERR No such user '{c_text(value, 1 << 16)}'")
            elif opt == b"skipme" and more:
                if value.lower() == b"yes":
                    skipme = True
                elif value.lower() == b"no":
                    skipme = False
                else:
                    return SYNTAX
            else:
                return SYNTAX
            i += 2
    killed = 0
    kill_self = False
    for other in list(gate.sessions()):
        if addr is not None and other.addr.encode() != addr:
            continue
        if laddr is not None and other.laddr.encode() != laddr:
            continue
        if client_id is not None and other.id != client_id:
            continue
        if ctype is not None and ctype != _client_type(other):
            continue
        if other is session:
            if skipme:
                continue
            kill_self = True
        elif other.kill is not None:
            other.kill()
        killed += 1
    if old_form:
        reply: Result = OK if killed else ReplyError("ERR No such client")
    else:
        reply = killed
    return Close(reply) if kill_self else reply


# --- CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO (frontends/resp/tracking.py) ---------------
# BCAST prefixes one connection may hold. Redis has no such bound; here it keeps the overlap check
# (quadratic, as Redis' is, once an overlap exists) and each applied key's walk over the node's
# prefixes within reach of a hostile client. Real clients use a handful.
TRACKING_PREFIXES_MAX = 1000


def _any_overlap(prefixes: list[bytes]) -> bool:
    """Whether two of `prefixes` overlap (one starts with the other): in byte order, a prefix is
    followed by the strings that start with it, so comparing neighbours finds any overlap."""
    ordered = sorted(prefixes)
    return any(later.startswith(earlier) for earlier, later in zip(ordered, ordered[1:]))


def _prefix_overlap(prefixes: list[bytes], existing: dict[bytes, None]) -> Result | None:
    """Redis' checkPrefixCollisionsOrReply, quirk included: an overlap found among the given prefixes
    past the first one answers the error AND lets tracking go on (its caller then answers OK too)."""
    if not _any_overlap([*prefixes, *existing]):  # the common case, without the quadratic walk
        return None
    held_in_order = sorted(existing)  # Redis walks the client's prefixes (a radix tree) in byte order
    for i, prefix in enumerate(prefixes):
        for held in held_in_order:
            if held.startswith(prefix) or prefix.startswith(held):
                return ReplyError(
                    f"ERR Prefix '{c_text(prefix, 1 << 16)}' overlaps with an existing prefix "
                    f"'{c_text(held, 1 << 16)}'. Prefixes for a single client must not overlap."
                )
        for other in prefixes[i + 1 :]:
            if other.startswith(prefix) or prefix.startswith(other):
                error = ReplyError(
                    f"ERR Prefix '{c_text(prefix, 1 << 16)}' overlaps with another provided prefix "
                    f"'{c_text(other, 1 << 16)}'. Prefixes for a single client must not overlap."
                )
                return error if i == 0 else Replies([error])
    return None


def cmd_client_tracking(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CLIENT TRACKING on|off [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP]:
    Redis 7.0's clientCommand, its checks in its order."""
    redirect, redirect_to = 0, None
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    j = 3
    while j < len(args):
        opt = args[j].lower()
        more = j + 1 < len(args)
        if opt == b"redirect" and more:
            j += 1
            if redirect != 0:
                return ReplyError("ERR A client can only redirect to a single other client")
            redirect = string2ll(args[j])
            if redirect is None:
                return NOT_INTEGER
            redirect_to = next((other for other in gate.sessions() if other.id == redirect), None)
            if redirect_to is None:
                return ReplyError("ERR The client ID you want redirect to does not exist")
        elif opt == b"bcast":
            bcast = True
        elif opt == b"optin":
            optin = True
        elif opt == b"optout":
            optout = True
        elif opt == b"noloop":
            noloop = True
        elif opt == b"prefix" and more:
            j += 1
            prefixes.append(args[j])
        else:
            return SYNTAX
        j += 1
    mode = args[2].lower()
    if mode == b"off":
        gate.tracking.disable(session)
        _update_after_command(session)
        return OK
    if mode != b"on":
        return SYNTAX
    current = session.tracking
    if prefixes and not bcast:
        return ReplyError("ERR PREFIX option requires BCAST mode to be enabled")
    if current is not None and current.bcast != bcast:
        return ReplyError(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, "
            "and then re-enabling it with a different mode."
        )
    if bcast and (optin or optout):
        return ReplyError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if optin and optout:
        return ReplyError("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if current is not None and ((optin and current.optout) or (optout and current.optin)):
        return ReplyError(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, "
            "and then re-enabling it with a different mode."
        )
    overlap = None
    if bcast and len(prefixes) + (len(current.prefixes) if current is not None else 0) > TRACKING_PREFIXES_MAX:
        return ReplyError(f"ERR too many tracking prefixes for one client (at most {TRACKING_PREFIXES_MAX})")
    if bcast:
        overlap = _prefix_overlap(prefixes, current.prefixes if current is not None else {})
        if overlap.__class__ is ReplyError:
            return overlap
    tracking = current if current is not None else ClientTracking(session)
    tracking.redirect, tracking.redirect_to = redirect, redirect_to
    tracking.bcast, tracking.optin, tracking.optout, tracking.noloop = bcast, optin, optout, noloop
    tracking.broken_redirect = False
    gate.tracking.enable(tracking, prefixes)
    if overlap is not None:  # Redis' quirk: the error, then OK
        overlap.append(OK)
        return overlap
    return OK


def cmd_client_caching(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    tracking = session.tracking
    if tracking is None:
        return ReplyError(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
        )
    opt = args[2].lower()
    if opt == b"yes":
        if not tracking.optin:
            return ReplyError("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
    elif opt == b"no":
        if not tracking.optout:
            return ReplyError("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    else:
        return SYNTAX
    tracking.caching = True  # for the next command (or transaction): after_command ends it
    session.after_command = after_command
    return OK


def cmd_client_getredir(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return -1 if session.tracking is None else session.tracking.redirect


def cmd_client_trackinginfo(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """A map of flags (a set in RESP3), redirect and prefixes, as Redis 7.0 answers it."""
    tracking = session.tracking
    if tracking is None:
        return {b"flags": RespSet([b"off"]), b"redirect": -1, b"prefixes": []}
    flags = [b"on"]
    if tracking.bcast:
        flags.append(b"bcast")
    if tracking.optin:
        flags.append(b"optin")
        if tracking.caching:
            flags.append(b"caching-yes")
    if tracking.optout:
        flags.append(b"optout")
        if tracking.caching:
            flags.append(b"caching-no")
    if tracking.noloop:
        flags.append(b"noloop")
    if tracking.broken_redirect:
        flags.append(b"broken_redirect")
    return {b"flags": RespSet(flags), b"redirect": tracking.redirect, b"prefixes": sorted(tracking.prefixes)}


# --- CLIENT REPLY / NO-EVICT / PAUSE / UNPAUSE, MONITOR ----------------------------------------------
# Session.replies: Redis' CLIENT_REPLY_OFF, CLIENT_REPLY_SKIP (this command's reply is dropped) and
# CLIENT_REPLY_SKIP_NEXT (the next one's is).
REPLY_OFF, REPLY_SKIP, REPLY_SKIP_NEXT = 1, 2, 4


def cmd_client_reply(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    opt = args[2].lower()
    if opt == b"on":
        session.replies = 0
        _update_after_command(session)
        return OK
    if opt == b"off":
        session.replies |= REPLY_OFF
    elif opt == b"skip":
        if not session.replies & REPLY_OFF:
            session.replies |= REPLY_SKIP_NEXT
    else:
        return SYNTAX
    session.after_command = after_command
    return NO_REPLY


def after_command(gate: ServerView, session: Session, kind: int, value: Result) -> tuple[int, Result]:
    """What Redis' resetClient does after each command, for the modes that need it: CLIENT REPLY
    OFF / SKIP drop this command's reply (its effects stay; pushes still go out, as in Redis 7.0.15),
    and CLIENT CACHING lasts for one command, or one transaction. The server calls it right after
    routing each command while Session.after_command is set (only then: no cost otherwise)."""
    mode = session.replies
    silenced = mode & (REPLY_OFF | REPLY_SKIP)
    mode &= ~REPLY_SKIP
    if mode & REPLY_SKIP_NEXT:
        mode = (mode | REPLY_SKIP) & ~REPLY_SKIP_NEXT
    session.replies = mode
    tracking = session.tracking
    if tracking is not None and session.multi is None and gate.route_name != "client":
        tracking.caching = False
    _update_after_command(session)
    if not silenced:
        return kind, value
    if kind == IMMEDIATE:
        return kind, Close(NO_REPLY) if value.__class__ is Close else NO_REPLY
    hook = gate.reply_hook

    def dropped(args: list[bytes], result: Result, protocol: int) -> Result:
        if hook is not None:
            hook(args, result, protocol)  # its effects (WATCH's versions...) still happen
        return NO_REPLY

    gate.reply_hook = dropped
    return kind, value


def _update_after_command(session: Session) -> None:
    tracking = session.tracking
    needed = session.replies or (tracking is not None and tracking.caching)
    session.after_command = after_command if needed else None


def cmd_client_no_evict(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """Recorded and shown (flag e); this server evicts no client for memory (maxmemory-clients)."""
    opt = args[2].lower()
    if opt not in (b"on", b"off"):
        return SYNTAX
    session.no_evict = opt == b"on"
    return OK


def cmd_client_pause(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CLIENT PAUSE timeout [WRITE|ALL]: this node holds its clients' commands (frontends/resp/pause.py)."""
    write_only = False
    if len(args) == 4:
        mode = args[3].lower()
        if mode == b"write":
            write_only = True
        elif mode != b"all":
            return ReplyError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    elif len(args) > 4:  # past the table's arity (-3), Redis' addReplySubcommandSyntaxError
        return ReplyError(
            f"ERR unknown subcommand or wrong number of arguments for '{c_text(args[1], 128)}'. Try CLIENT HELP."
        )
    timeout_ms = string2ll(args[2])
    if timeout_ms is None:
        return ReplyError("ERR timeout is not an integer or out of range")
    if timeout_ms < 0:
        return ReplyError("ERR timeout is negative")
    if timeout_ms == 0:  # Redis: a pause that ends when it starts
        return OK
    until = gate.now_s() + timeout_ms / 1000
    if gate.pause is not None and not gate.pause.ended.is_set():
        gate.pause.extend(until, write_only)
    else:
        gate.pause = ClientPause(until, write_only)
    return OK


def cmd_client_unpause(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if gate.pause is not None:
        gate.pause.ended.set()
        gate.pause = None
    return OK


def cmd_monitor(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """MONITOR: this node's clients' commands from now on (frontends/resp/monitor.py); a second
    MONITOR is ignored without a reply, as in Redis. Queued in MULTI, EXEC runs it (the gate routed
    EXEC, not MONITOR): refused, as Redis refuses it to a client that must get one reply per command."""
    if gate.route_name != "monitor":
        return ReplyError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if session.monitor:
        return NO_REPLY
    gate.monitors.add(session)
    return OK


def leave_modes(gate: ServerView, session: Session) -> None:
    """RESET or the connection closed: out of tracking, MONITOR and CLIENT REPLY OFF / SKIP (Redis'
    clearClientConnectionState; NO-EVICT stays, as there)."""
    gate.tracking.disable(session)
    gate.monitors.remove(session)
    session.replies = 0
    _update_after_command(session)


# Redis 7.0's CLIENT HELP (SETINFO, from 7.2, is served but not listed, as in 7.0).
_HELP = [
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
]

_CLIENT_SUBS = [
    frontend_command(
        "client|id",
        2,
        "noscript loading stale",
        cmd_client_id,
        summary="Returns the client ID for the current connection",
        since="5.0.0",
        acl="slow connection",
    ),
    frontend_command(
        "client|setname",
        3,
        "noscript loading stale",
        cmd_client_setname,
        summary="Set the current connection name",
        since="2.6.9",
        syntax="connection-name",
        acl="slow connection",
    ),
    frontend_command(
        "client|getname",
        2,
        "noscript loading stale",
        cmd_client_getname,
        summary="Get the current connection name",
        since="2.6.9",
        acl="slow connection",
    ),
    frontend_command(
        "client|setinfo",
        4,
        "noscript loading stale",
        cmd_client_setinfo,
        summary="Set client or connection specific info",
        since="7.2.0",
        syntax="LIB-NAME libname | LIB-VER libver",
        acl="slow connection",
    ),
    frontend_command(
        "client|info",
        2,
        "noscript loading stale",
        cmd_client_info,
        summary="Returns information about the current client connection.",
        since="6.2.0",
        acl="slow connection",
    ),
    frontend_command(
        "client|kill",
        -3,
        "admin noscript loading stale",
        cmd_client_kill,
        summary="Kill the connection of a client",
        since="2.4.0",
        complexity="O(N) where N is the number of client connections",
        syntax="ip:port | [ID client-id] [TYPE NORMAL | MASTER | SLAVE | REPLICA | PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES | NO]",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|unblock",
        -3,
        "admin noscript loading stale",
        cmd_client_unblock,
        summary="Unblock a client blocked in a blocking command from a different connection",
        since="5.0.0",
        complexity="O(log N) where N is the number of client connections",
        syntax="client-id [TIMEOUT | ERROR]",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|list",
        -2,
        "admin noscript loading stale",
        cmd_client_list,
        summary="Get the list of client connections",
        syntax="[TYPE NORMAL | MASTER | REPLICA | PUBSUB] [ID client-id [client-id ...]]",
        since="2.4.0",
        complexity="O(N) where N is the number of client connections",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|tracking",
        -3,
        "noscript loading stale",
        cmd_client_tracking,
        summary="Enable or disable server assisted client side caching support",
        since="6.0.0",
        complexity="O(1). Some options may introduce additional complexity.",
        syntax="ON | OFF [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]",
        acl="slow connection",
    ),
    frontend_command(
        "client|caching",
        3,
        "noscript loading stale",
        cmd_client_caching,
        summary="Instruct the server about tracking or not keys in the next request",
        since="6.0.0",
        syntax="YES | NO",
        acl="slow connection",
    ),
    frontend_command(
        "client|getredir",
        2,
        "noscript loading stale",
        cmd_client_getredir,
        summary="Get tracking notifications redirection client ID if any",
        since="6.0.0",
        acl="slow connection",
    ),
    frontend_command(
        "client|trackinginfo",
        2,
        "noscript loading stale",
        cmd_client_trackinginfo,
        summary="Return information about server assisted client side caching for the current connection",
        since="6.2.0",
        acl="slow connection",
    ),
    frontend_command(
        "client|reply",
        3,
        "noscript loading stale",
        cmd_client_reply,
        summary="Instruct the server whether to reply to commands",
        since="3.2.0",
        syntax="ON | OFF | SKIP",
        acl="slow connection",
    ),
    frontend_command(
        "client|no-evict",
        3,
        "admin noscript loading stale",
        cmd_client_no_evict,
        summary="Set client eviction mode for the current connection",
        since="7.0.0",
        syntax="ON | OFF",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|pause",
        -3,
        "admin noscript loading stale",
        cmd_client_pause,
        summary="Stop processing commands from clients for some time",
        since="2.9.50",
        syntax="timeout [WRITE | ALL]",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|unpause",
        2,
        "admin noscript loading stale",
        cmd_client_unpause,
        summary="Resume processing of clients that were paused",
        since="6.2.0",
        complexity="O(N) Where N is the number of paused clients",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|help",
        2,
        "loading stale",
        help_handler("CLIENT", _HELP),
        summary="Show helpful text about the different subcommands",
        since="5.0.0",
        acl="slow connection",
    ),
]


COMMANDS = [
    frontend_command(
        "client",
        -2,
        "",
        container(_CLIENT_SUBS),
        summary="A container for client connection commands",
        since="2.4.0",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_CLIENT_SUBS,
    ),
    frontend_command(
        "monitor",
        1,
        "admin noscript loading stale",
        cmd_monitor,
        group="server",
        summary="Listen for all requests received by the server in real time",
        since="1.0.0",
        complexity="",
        acl="admin slow dangerous",
    ),
]
