"""`replicator` with the engine task's hops traced too: what bench/trace_write.py starts.

    REPLICATOR_HOP_TRACE=/tmp/n1.hops python bench/hop_node.py serve --config n1.toml

The RESP server, the transport and the store stamp their own hops
(replicator/hoptrace.py). The engine task's hops live in the node core, the
NodeHost and the driver; until they stamp them themselves, this launcher wraps
the methods each hop passes through before it runs the ordinary command line.
Nothing here changes what a node does.
"""

from __future__ import annotations

import sys
from functools import wraps
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from replicator import hoptrace
from replicator.hoptrace import message_hop, message_key, stamp


def _ready_key(rd) -> int:
    if rd.entries:
        return rd.entries[-1].index
    if rd.committed:
        return rd.committed[-1].index
    return 0


def install() -> None:
    """Wrap the driver's and NodeHost's hop methods with stamps."""
    from replicator.core.node import NodeCore
    from replicator.node import NodeHost
    from replicator.runtime.driver import Node

    step = NodeCore.step

    @wraps(step)
    def traced_step(self):
        stamp("engine:wake")
        for msg in self._inbox:
            stamp(message_hop("step", msg, msg.src), message_key(msg))
        if self._writes:
            stamp("engine:writes")
        step(self)

    propose = NodeHost.propose

    @wraps(propose)
    def traced_propose(self, machine, command, ts_ms):
        seq, index = propose(self, machine, command, ts_ms)
        stamp("engine:proposed", index)
        return seq, index

    take_ready = NodeHost.take_ready

    @wraps(take_ready)
    def traced_take_ready(self):
        rd = take_ready(self)
        if rd is not None:
            if rd.entries:
                stamp("ready:entries", rd.entries[-1].index)
            if rd.committed:
                stamp("ready:committed", rd.committed[-1].index)
        return rd

    apply = NodeHost.apply

    @wraps(apply)
    def traced_apply(self, rd):
        if not rd.committed:
            return apply(self, rd)
        key = rd.committed[-1].index
        stamp("apply:begin", key)
        out = apply(self, rd)
        stamp("apply:end", key)
        return out

    complete = NodeHost.complete

    @wraps(complete)
    def traced_complete(self, rd, out):
        result = complete(self, rd, out)
        stamp("ready:advanced", _ready_key(rd))
        return result

    wrote = Node._wrote

    @wraps(wrote)
    def traced_wrote(self, rd, size, seconds):
        stamp("engine:persisted", _ready_key(rd))
        wrote(self, rd, size, seconds)

    resolve = NodeCore._resolve

    @wraps(resolve)
    def traced_resolve(self, results):
        resolve(self, results)
        if results:
            stamp("engine:resolved", max(index for _, index, _ in results))

    NodeCore.step = traced_step
    NodeHost.propose = traced_propose
    NodeHost.take_ready = traced_take_ready
    NodeHost.apply = traced_apply
    NodeHost.complete = traced_complete
    Node._wrote = traced_wrote
    NodeCore._resolve = traced_resolve


if __name__ == "__main__":
    if hoptrace.TRACING:
        install()
    from replicator.cli import main

    sys.exit(main())
