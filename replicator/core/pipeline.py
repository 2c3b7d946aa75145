"""Pipeline entries: many client commands as one log entry.

A TRANSACTIONS entry without watches (replicator/transactions.py) carries a run
of commands for machines that declare `pipeline_entries`, each with its own
result: a client's pipelined SETs cost one proposal, one stored entry and one
apply step on every replica instead of one each. A read may be a step of such
an entry too (submit_pipeline): it runs at apply, right after the writes before
it, which keeps Redis' reply order and read-your-writes in one round trip.

An entry stops growing at PIPELINE_ENTRY_BYTES, so replication frames stay
small; what one step adds beyond its command and machine name (msgpack array,
string and binary headers, the write flag) is counted, so 1 MiB of tiny
commands stays about 1 MiB.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from replicator.transactions import encode_transaction
from statemachines import TRANSACTIONS

PIPELINE_STEP_OVERHEAD = 12
PIPELINE_ENTRY_BYTES = 1 << 20

# One proposal: (slot, or the slots of a pipeline entry in step order), machine, command.
Proposal = tuple[int | tuple[int, ...], str, bytes]


def step_bytes(machine: str, command: bytes) -> int:
    return len(command) + len(machine) + PIPELINE_STEP_OVERHEAD


def group_writes(items: Sequence[tuple[int, str, bytes]], shared: Collection[str]) -> list[Proposal]:
    """Consecutive writes for machines in `shared` joined into pipeline entries (each up to
    PIPELINE_ENTRY_BYTES); any other write stays a proposal of its own."""
    out: list[Proposal] = []
    position, count = 0, len(items)
    while position < count:
        slot, machine, command = items[position]
        end = position + 1
        if machine in shared:
            size = step_bytes(machine, command)
            while end < count and items[end][1] in shared:
                step = step_bytes(items[end][1], items[end][2])
                if size + step > PIPELINE_ENTRY_BYTES:  # read at call time: tests shrink it
                    break
                size += step
                end += 1
        if end == position + 1:
            out.append((slot, machine, command))
        else:
            group = items[position:end]
            steps = encode_transaction((m, c, True) for _, m, c in group)
            out.append((tuple(item[0] for item in group), TRANSACTIONS, steps))
        position = end
    return out


def group_mixed(run: Sequence[tuple[int, str, bytes, bool]]) -> Proposal:
    """One run of (slot, machine, command, write) as one proposal: a lone write stays an
    ordinary proposal (it may be up to max_entry_bytes, which the entry's encoding would
    push over); anything else becomes a pipeline entry whose reads are steps."""
    if len(run) == 1 and run[0][3]:
        slot, machine, command, _ = run[0]
        return (slot, machine, command)
    steps = encode_transaction((m, c, w) for _, m, c, w in run)
    return (tuple(step[0] for step in run), TRANSACTIONS, steps)
