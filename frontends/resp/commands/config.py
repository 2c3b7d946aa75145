"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP over Redis 7.0's parameters.

The parameter table, its parsers and error texts are frontends/resp/config_params.py.
CONFIG SET is per node, as it is per server in Redis: it changes the node the client is
connected to and nothing goes through the log, so a value meant to hold cluster-wide
(requirepass, maxclients, an encoding threshold) is set on every node. Parameters the
server owns (maxclients, requirepass, client-output-buffer-limit; port, bind and the
parser's limits, fixed at start) are read from and written to the server; the others are
kept in the node's ConfigStore, shown by CONFIG GET, and mostly have no effect
(config_params.EFFECTS names the ones that do).
"""

from __future__ import annotations

from frontends.resp.commands.entry import OK, ServerView, container, frontend_command, help_handler
from frontends.resp.config_params import BY_NAME, HIDDEN, Param, lookup, parse_set
from frontends.resp.limits import parse_output_buffer_limits
from frontends.resp.protocol import string2ll
from frontends.resp.session import Session
from frontends.resp.tls import SETTINGS as TLS_SETTINGS
from frontends.resp.tls import reload_for_config_set
from statemachines import ReplyError, Result
from statemachines.glob import compile_glob
from statemachines.keyevents import flags_from_string


def cmd_config_get(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CONFIG GET pattern ...: as configGetCommand, a plain name is answered under the name as
    given (hidden parameters too), a glob matches every visible name and alias (case aside);
    a name already answered is not repeated."""
    live = gate.config_params()
    stored = gate.config.values
    matches: dict[bytes, tuple[bytes, Param]] = {}  # lower-cased name -> (name shown, parameter)
    for pattern in args[2:]:
        if not any(c in pattern for c in b"[*?"):
            param = lookup(pattern)
            if param is not None:
                matches.setdefault(pattern.lower(), (pattern, param))
            continue
        match = compile_glob(pattern, nocase=True)  # Redis: stringmatch(pattern, name, nocase=1)
        for name, param in BY_NAME.items():
            key = name.encode()
            if not param.flags & HIDDEN and key not in matches and match(key):
                matches[key] = (key, param)
    out: dict[bytes, bytes] = {}
    for shown, param in matches.values():
        value = live.get(param.name)
        out[shown] = value.encode("utf-8", "surrogateescape") if value is not None else stored[param.name]
    return out


def cmd_config_set(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CONFIG SET parameter value [parameter value ...]: all or nothing, as in Redis: every
    pair is checked (config_params.parse_set) before any changes."""
    if len(args) % 2:
        return ReplyError("ERR syntax error")
    checked = parse_set(args[2:])
    if isinstance(checked, str):
        return ReplyError("ERR " + checked)
    tls_changes = {param.name: value for param, value in checked if param.name in TLS_SETTINGS}
    if tls_changes and (refused := reload_for_config_set(gate.tls, tls_changes)) is not None:
        return ReplyError("ERR " + refused)  # nothing changed (Redis: all or nothing)
    for (param, value), raw in zip(checked, args[3::2]):
        if param.name == "notify-keyspace-events":
            gate.config.values[param.name] = value
            gate.notifications.configure(flags_from_string(raw))  # the raw flags: GET's "A" hides n
        elif param.name == "maxclients":
            gate.max_clients = string2ll(value)
        elif param.name == "requirepass":
            gate.requirepass = value or None
            gate.acl.set_requirepass(gate.requirepass)  # the default user's password, as in Redis
        elif param.name == "client-output-buffer-limit":
            gate.output_buffer_limits.update(parse_output_buffer_limits(value))
        else:
            gate.config.values[param.name] = value
    return OK


def cmd_config_resetstat(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CONFIG RESETSTAT: INFO's counters (this node's) back to zero."""
    for counter in gate.stats:
        gate.stats[counter] = 0
    return OK


def cmd_config_rewrite(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CONFIG REWRITE: a node's configuration is its command line and config file, which CONFIG SET
    does not touch; Redis' answer when it was started without a config file."""
    return ReplyError("ERR The server is running without a config file")


_SERVER_ADMIN = dict(group="server", complexity="O(1)", acl="admin slow dangerous")

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
        "config|resetstat",
        2,
        "admin noscript loading stale",
        cmd_config_resetstat,
        summary="Reset the stats returned by INFO",
        since="2.0.0",
        **_SERVER_ADMIN,
    ),
    frontend_command(
        "config|rewrite",
        2,
        "admin noscript loading stale",
        cmd_config_rewrite,
        summary="Rewrite the configuration file with the in memory configuration",
        since="2.8.0",
        **_SERVER_ADMIN,
    ),
    frontend_command(
        "config|help",
        2,
        "loading stale",
        help_handler(
            "CONFIG",
            [
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Prints this help.",
            ],
        ),
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
