"""CONFIG GET and CONFIG SET: the parameters clients ask for, and the few that change at run time."""

from __future__ import annotations

from frontends.resp.commands.entry import OK, ServerView, container, frontend_command, help_handler
from frontends.resp.commands.errors import text
from frontends.resp.limits import parse_output_buffer_limits
from frontends.resp.protocol import string2ll
from frontends.resp.session import Session
from statemachines import ReplyError, Result
from statemachines.glob import compile_glob


def cmd_config_get(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CONFIG GET pattern ...: the few parameters clients ask for (redis-benchmark: save, appendonly)."""
    params = gate.config_params()
    out: dict[bytes, bytes] = {}
    for pattern in args[2:]:
        if not any(c in pattern for c in b"[*?"):  # a plain name: answered under the name as given
            value = params.get(text(pattern).lower())
            if value is not None:
                out[pattern] = value.encode()
            continue
        match = compile_glob(pattern, nocase=True)  # Redis: stringmatch(pattern, name, nocase=1)
        for key, value in params.items():
            if match(key.encode()):
                out[key.encode()] = value.encode()
    return out


def cmd_config_set(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CONFIG SET parameter value [parameter value ...]: maxclients and requirepass change
    on this node at once (like Redis, per server: set them on every node); the others
    CONFIG GET shows are fixed for the node's life. All or nothing, as in Redis."""
    if len(args) % 2:
        return ReplyError(f"ERR Unknown option or number of arguments for CONFIG SET - '{text(args[-1])}'")
    params = gate.config_params()
    changes: dict[str, bytes] = {}
    for name, value in zip(args[2::2], args[3::2]):
        key = text(name).lower()
        if key not in params:
            return ReplyError(f"ERR Unknown option or number of arguments for CONFIG SET - '{text(name)}'")
        failed = f"ERR CONFIG SET failed (possibly related to argument '{key}') - "
        if key == "client-output-buffer-limit":  # settable: parsed into its classes' limits
            value = parse_output_buffer_limits(value)
            if isinstance(value, str):
                return ReplyError(failed + value)
        if key in changes:
            return ReplyError(failed + "duplicate parameter")
        if key not in _SETTABLE and key != "client-output-buffer-limit":
            return ReplyError(failed + "can't set immutable config")
        if key == "maxclients":
            error = _check_maxclients(value)
            if error:
                return ReplyError(failed + error)
        changes[key] = value
    if "client-output-buffer-limit" in changes:
        gate.output_buffer_limits.update(changes.pop("client-output-buffer-limit"))
    for key, value in changes.items():
        if key == "maxclients":
            gate.max_clients = string2ll(value)
        else:
            gate.requirepass = value or None
    return OK


MAXCLIENTS_MAX = (1 << 32) - 1  # Redis: createUIntConfig("maxclients", ..., 1, UINT_MAX, ...)


def _check_maxclients(value: bytes) -> str | None:
    """Redis' numeric config checks, in its words: an int64 (string2ll: no int() on client
    digits, whose length is the client's to choose), then the range."""
    number = string2ll(value)
    if number is None:
        return "argument couldn't be parsed into an integer"
    if not 1 <= number <= MAXCLIENTS_MAX:
        return f"argument must be between 1 and {MAXCLIENTS_MAX} inclusive"
    return None


_SETTABLE = ("maxclients", "requirepass")


_CONFIG_SUBS = [
    frontend_command(
        "config|get",
        -3,
        "admin noscript loading stale",
        cmd_config_get,
        group="server",
        summary="Get the values of configuration parameters",
        since="2.0.0",
        complexity="O(N) when N is the number of configuration parameters provided",
        syntax="parameter [parameter ...]",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "config|set",
        -4,
        "admin noscript loading stale",
        cmd_config_set,
        group="server",
        summary="Set configuration parameters to the given values",
        since="2.0.0",
        complexity="O(N) when N is the number of configuration parameters provided",
        syntax="parameter value [parameter value ...]",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "config|help",
        2,
        "loading stale",
        help_handler("CONFIG", ["GET <pattern>", "SET <parameter> <value> [<parameter> <value> ...]", "HELP"]),
        group="server",
        summary="Show helpful text about the different subcommands",
        since="5.0.0",
        acl="slow",
    ),
]

COMMANDS = [
    frontend_command(
        "config",
        -2,
        "",
        container(_CONFIG_SUBS),
        group="server",
        summary="A container for server configuration commands",
        since="2.0.0",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_CONFIG_SUBS,
    ),
]
