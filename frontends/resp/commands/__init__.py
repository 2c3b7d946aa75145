"""The RESP frontend's commands: the table, and the commands the frontend answers itself.

Every command served is one entry of a table (entry.py's Command: name, arity,
flags, key positions, docs), built by table.py from the frontend's own commands
and the state machines' CommandSpecs. The same entries answer COMMAND, COMMAND
INFO and COMMAND DOCS and generate docs/commands.md. Where to look:

    entry.py          Command, CommandTable, what a handler returns (Close, Submit)
                      and what it sees of the server (ServerView)
    errors.py         the shared error texts (syntax, arity, unknown command)
    table.py          the table: frontend-owned entries first, then the machines'
    connection.py     PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET, READCONSISTENCY
    client.py         CLIENT ID / SETNAME / INFO / LIST / KILL ...
    transactions.py   MULTI, EXEC, DISCARD, WATCH, UNWATCH
    info.py           INFO, ROLE, TIME
    config.py         CONFIG GET / SET
    wait.py           WAIT (how many replicas hold the connection's last write)
    backup.py         REPLICATOR.BACKUP BEGIN / READ / END (replicator backup)
    introspection.py  COMMAND, COMMAND INFO / DOCS / COUNT / LIST
    syntax.py         help notation -> COMMAND DOCS arguments
    markdown.py       docs/commands.md (python -m frontends.resp.commands --markdown)

The gate (frontends/resp/gate.py) looks commands up here and calls the handlers;
nothing here imports the gate.
"""
