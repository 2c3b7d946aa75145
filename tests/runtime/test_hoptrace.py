"""The opt-in hop trace (replicator/hoptrace.py): off unless asked for, and what it writes."""

from __future__ import annotations

import os
import subprocess
import sys

from replicator import hoptrace
from replicator.protocol.raft.messages import AppendEntries, AppendEntriesResp
from replicator.types import Entry, EntryKind

_CHILD = """
from replicator.hoptrace import TRACING, stamp
assert TRACING
stamp("resp:read")
stamp("save:synced", 7)
"""


def test_off_unless_the_variable_names_a_file():
    env = {k: v for k, v in os.environ.items() if k != "REPLICATOR_HOP_TRACE"}
    code = "from replicator import hoptrace; print(hoptrace.TRACING)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_traced_process_writes_its_hops_when_it_exits(tmp_path):
    path = tmp_path / "n1.hops"
    env = dict(os.environ, REPLICATOR_HOP_TRACE=str(path))
    subprocess.run([sys.executable, "-c", _CHILD], env=env, check=True)
    lines = [line.split() for line in path.read_text().splitlines()]
    assert [(hop, int(key)) for hop, key, _ in lines] == [("resp:read", 0), ("save:synced", 7)]
    assert int(lines[0][2]) <= int(lines[1][2])  # perf_counter_ns, in order


def test_message_hops_name_the_type_the_direction_and_the_entry():
    entry = Entry(index=5, epoch=1, kind=EntryKind.NORMAL, data=b"x")
    append = AppendEntries(1, 2, 1, 4, 1, (entry,), 3)
    assert hoptrace.message_hop("queue", append, 2) == "queue:AppendEntries>2"
    assert hoptrace.message_key(append) == 5
    empty = AppendEntries(1, 2, 1, 5, 1, (), 5)
    assert hoptrace.message_hop("recv", empty, 1) == "recv:AppendEntries(empty)<1"
    assert hoptrace.message_key(empty) == 5  # its commit
    ack = AppendEntriesResp(2, 1, 1, index=5)
    assert hoptrace.message_hop("step", ack, 2) == "step:AppendEntriesResp<2"
    assert hoptrace.message_key(ack) == 5
