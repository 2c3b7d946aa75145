"""One trace line per simulator event, formatted only when someone reads it.

    time_ms  node  role          term  commit  last  what
      1234   n2    leader        t3    c41     l43   recv AppendResp(1->2 term=3 index=43 ...)

The columns are the node's state as its NodeHost knows it when the line is
written: role and term change when a Ready carrying soft state finishes (the
`ready` line that brings a change shows it as `soft=...`), commit is the
engine's as of the last finished Ready, last is the durable last index.
`recv` lines are written before the message is stepped. Records are kept as
tuples and formatted lazily: a run keeps only the last `tail` of them (a ring
buffer) unless `full` is set (replay with --trace, determinism tests), so
seeds that pass pay little for tracing.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from replicator.types import Membership

_ROLE_WIDTH = 13


def summarize(obj: Any) -> str:
    """A short, deterministic rendering of a message or other record."""
    cls = type(obj)
    names = _field_names(cls)
    if names is None:
        return str(obj)
    parts = []
    src = getattr(obj, "src", None)
    dst = getattr(obj, "dst", None)
    if src is not None and dst is not None:
        parts.append(f"{src}->{dst}")
    for name in names:
        if name in ("src", "dst"):
            continue
        value = getattr(obj, name)
        if value is None or value is False or (isinstance(value, (tuple, list, bytes)) and not value):
            continue  # defaults say nothing; keep lines short
        parts.append(f"{name}={_short(value)}")
    return f"{cls.__name__}(" + " ".join(parts) + ")"


_FIELDS_CACHE: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    try:
        return _FIELDS_CACHE[cls]
    except KeyError:
        pass
    names: tuple[str, ...] | None
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))
    elif hasattr(cls, "__struct_fields__"):  # msgspec.Struct
        names = tuple(cls.__struct_fields__)  # type: ignore[attr-defined]
    else:
        names = None
    _FIELDS_CACHE[cls] = names
    return names


def _short(value: Any) -> str:
    if isinstance(value, Membership):
        return "[" + ",".join(f"{m.id}{m.role[0]}" for m in value.members) + "]"  # [1v,2v,4l]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)}B>"
    if isinstance(value, (tuple, list)):
        if not value:
            return "[]"
        first = value[0]
        idx = getattr(first, "index", None)
        if isinstance(idx, int):
            last = getattr(value[-1], "index", idx)
            return f"[{len(value)}:{idx}..{last}]"
        if len(value) <= 4 and all(isinstance(v, (int, str)) for v in value):
            return "[" + ",".join(map(str, value)) + "]"
        return f"[{len(value)}]"
    if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, (int, str)):
        return str(value.name)  # enums
    if isinstance(value, (int, str, bool, float)) or value is None:
        return str(value)
    if dataclasses.is_dataclass(value) or hasattr(type(value), "__struct_fields__"):
        return summarize(value)
    return repr(value)


class Trace:
    def __init__(self, *, full: bool = False, tail: int = 400) -> None:
        self.full = full
        self._records: collections.deque | list = [] if full else collections.deque(maxlen=tail)
        self.count = 0

    def add(self, time_ms: int, node: int | None, state: tuple | None, what: str, obj: Any = None) -> None:
        """state = (role, term, commit, last_index) of `node` after the event, or None."""
        self.count += 1
        self._records.append((time_ms, node, state, what, obj))

    def lines(self, last: int | None = None) -> list[str]:
        recs = list(self._records)
        if last is not None:
            recs = recs[-last:]
        return [format_record(r) for r in recs]

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"


def format_record(rec: tuple) -> str:
    time_ms, node, state, what, obj = rec
    who = f"n{node}" if node is not None else "--"
    if state is not None:
        role, term, commit, last = state
        role_name = getattr(role, "value", str(role))
        cols = f"{role_name:<{_ROLE_WIDTH}} t{term:<4} c{commit:<5} l{last:<5}"
    else:
        cols = " " * (_ROLE_WIDTH + 1) + f"{'':<5} {'':<6} {'':<6}"
    tail = what if obj is None else f"{what} {obj if isinstance(obj, str) else summarize(obj)}"
    return f"{time_ms:>8} {who:<4} {cols} {tail}"
