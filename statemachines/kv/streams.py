"""The stream value type (Redis t_stream.c, 7.0): entries ordered by ID, their listpack nodes,
consumer groups, and the snapshot codec. The commands are in stream_commands.py, stream_groups.py
and stream_info.py.

IDs are one int, `ms << 64 | seq` (both 64-bit), so they compare and sort as Redis' 128-bit
big-endian keys do. `format_id` writes them as "<ms>-<seq>".

Why nodes. Redis stores a stream as a radix tree of listpacks of at most
stream-node-max-entries (100) entries or stream-node-max-bytes (4096) bytes, and what users can
see depends on those boundaries: XTRIM/XADD with `~` only remove whole nodes, XDEL and exact
trimming leave tombstones that still count towards a node's 100, and XINFO STREAM reports the
node count (radix-tree-keys) and the radix tree's node count (radix-tree-nodes). So a `Node`
here keeps what decides those boundaries: its master ID (the radix tree key: the first ID ever
added to it), master fields, every entry including tombstones, its live and deleted counts, and
the exact byte size its listpack would have (`listpack sizes` below, from listpack.c's encodings).
Node limits are Redis' defaults (100 entries, 4096 bytes): CONFIG SET stream-node-max-* is
accepted by the frontend but changes nothing here.

Consumer groups keep Redis 7.0's state: last delivered ID, entries_read (-1 = unknown), a PEL of
NACKs (delivery time, delivery count, owning consumer), and consumers with their seen-time
(7.0 has no active-time; that came in 7.2). Every time comes from the caller: ts_ms inside
apply, so replicas agree.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from sortedcontainers import SortedList

from statemachines.kv.keyspace import TYPE_NAMES
from statemachines.kv.snapshot import register_codec

SEQ_BITS = 64
U64 = (1 << 64) - 1
ID_MAX = (1 << 128) - 1
NODE_MAX_ENTRIES = 100  # stream-node-max-entries (Redis' default)
NODE_MAX_BYTES = 4096  # stream-node-max-bytes (Redis' default)
LISTPACK_MAX_BYTES = 1 << 30  # STREAM_LISTPACK_MAX_SIZE: an entry above it is refused
ENTRIES_READ_UNKNOWN = -1  # SCG_INVALID_ENTRIES_READ

FLAG_SAMEFIELDS = 2


def format_id(value: int) -> bytes:
    return b"%d-%d" % (value >> SEQ_BITS, value & U64)


# --- listpack sizes (listpack.c: lpEncodeGetType, lpEncodeBacklen) --------------------------
def _int_encoded_bytes(v: int) -> int:
    if 0 <= v <= 127:
        return 1
    if -4096 <= v <= 4095:
        return 2
    if -32768 <= v <= 32767:
        return 3
    if -8388608 <= v <= 8388607:
        return 4
    if -2147483648 <= v <= 2147483647:
        return 5
    return 9


def _backlen_bytes(size: int) -> int:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


def int_element_bytes(v: int) -> int:
    size = _int_encoded_bytes(v)
    return size + _backlen_bytes(size)


def _listpack_int(raw: bytes) -> int | None:
    """lpStringToInt64: the strings a listpack stores as integers ("0", "-5", "123"; not "05")."""
    size = len(raw)
    if size == 0 or size >= 21:
        return None
    if raw == b"0":
        return 0
    body = raw[1:] if raw[0] == 45 else raw
    if not body or not 49 <= body[0] <= 57 or not body.isdigit():
        return None
    value = -int(body) if body is not raw else int(body)
    return value if -(1 << 63) <= value < (1 << 63) else None


def str_element_bytes(raw: bytes) -> int:
    value = _listpack_int(raw)
    if value is not None:
        return int_element_bytes(value)
    size = len(raw)
    size += 1 if size < 64 else 2 if size < 4096 else 5
    return size + _backlen_bytes(size)


def _signed64(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


LISTPACK_EMPTY_BYTES = 7  # header (total bytes, element count) and the end byte


class Node:
    """One listpack of the stream (see the module docstring). `base` is its byte size without
    the live/deleted counters at its head, whose sizes depend on their current values."""

    __slots__ = ("master", "fields", "ids", "items", "deleted", "live", "dead", "base")

    def __init__(self, master: int, fields: tuple) -> None:
        self.master = master
        self.fields = fields
        self.ids: list[int] = []
        self.items: list[tuple] = []  # per entry: (field, value, field, value, ...)
        self.deleted = bytearray()
        self.live = 0
        self.dead = 0
        self.base = (
            LISTPACK_EMPTY_BYTES + int_element_bytes(len(fields)) + sum(map(str_element_bytes, fields)) + 2
        )  # + the master entry's zero terminator

    def byte_size(self) -> int:
        return self.base + int_element_bytes(self.live) + int_element_bytes(self.dead)

    def append(self, entry_id: int, items: tuple) -> None:
        fields = items[0::2]
        same = fields == self.fields
        size = (
            2  # flags
            + int_element_bytes(_signed64((entry_id >> SEQ_BITS) - (self.master >> SEQ_BITS)))
            + int_element_bytes(_signed64((entry_id & U64) - (self.master & U64)))
            + sum(map(str_element_bytes, items[1::2]))
        )
        count = len(fields) + 3
        if not same:
            size += int_element_bytes(len(fields)) + sum(map(str_element_bytes, fields))
            count += len(fields) + 1
        self.base += size + int_element_bytes(count)
        self.ids.append(entry_id)
        self.items.append(items)
        self.deleted.append(0)
        self.live += 1

    def first_live(self, reverse: bool = False) -> int | None:
        deleted = self.deleted
        positions = range(len(deleted) - 1, -1, -1) if reverse else range(len(deleted))
        for pos in positions:
            if not deleted[pos]:
                return pos
        return None


class Nack:
    """A pending entry: delivered, not acknowledged yet."""

    __slots__ = ("time", "count", "consumer")

    def __init__(self, time: int, count: int, consumer: Consumer) -> None:
        self.time = time
        self.count = count
        self.consumer = consumer


class Consumer:
    __slots__ = ("name", "seen", "pel")

    def __init__(self, name: bytes, seen: int) -> None:
        self.name = name
        self.seen = seen
        self.pel = SortedList()  # IDs pending for this consumer (the NACKs are the group's)


class Group:
    __slots__ = ("last_id", "entries_read", "pel", "pel_ids", "consumers")

    def __init__(self, last_id: int, entries_read: int) -> None:
        self.last_id = last_id
        self.entries_read = entries_read
        self.pel: dict[int, Nack] = {}
        self.pel_ids = SortedList()
        self.consumers: dict[bytes, Consumer] = {}

    def add_nack(self, entry_id: int, nack: Nack) -> None:
        self.pel[entry_id] = nack
        self.pel_ids.add(entry_id)
        nack.consumer.pel.add(entry_id)

    def drop_nack(self, entry_id: int) -> None:
        nack = self.pel.pop(entry_id)
        self.pel_ids.remove(entry_id)
        nack.consumer.pel.remove(entry_id)

    def move_nack(self, entry_id: int, nack: Nack, consumer: Consumer) -> None:
        if nack.consumer is not consumer:
            nack.consumer.pel.remove(entry_id)
            consumer.pel.add(entry_id)
            nack.consumer = consumer

    def create_consumer(self, name: bytes, now: int) -> Consumer | None:
        if name in self.consumers:
            return None
        consumer = self.consumers[name] = Consumer(name, now)
        return consumer

    def delete_consumer(self, consumer: Consumer) -> int:
        pending = len(consumer.pel)
        for entry_id in consumer.pel:
            del self.pel[entry_id]
            self.pel_ids.remove(entry_id)
        del self.consumers[consumer.name]
        return pending


class Stream:
    """A Redis stream: nodes in ID order (`masters` holds each node's master ID, for bisect)."""

    __slots__ = (
        "masters",
        "nodes",
        "length",
        "last_id",
        "first_id",
        "max_deleted",
        "entries_added",
        "groups",
        "ordered",
        "_tree_nodes",
    )

    def __init__(self) -> None:
        self.masters: list[int] = []
        self.nodes: list[Node] = []
        self.length = 0
        self.last_id = 0
        self.first_id = 0
        self.max_deleted = 0
        self.entries_added = 0
        self.groups: dict[bytes, Group] = {}
        # True while every entry (tombstones too) is above all earlier ones, so IDs ascend through
        # the nodes and a position can be found by bisect. XSETID may lower last_id below a
        # tombstone; later XADDs then land out of order, as in Redis, and reads scan as it does.
        self.ordered = True
        self._tree_nodes: int | None = None  # radix-tree-nodes, computed on demand

    def __len__(self) -> int:
        return self.length

    # --- adding -------------------------------------------------------------------------
    def append(self, entry_id: int, items: tuple) -> None:
        """streamAppendItem after its checks: the ID is above last_id, the entry's size is valid.
        The tail node is the one with the highest master ID (the radix tree's last key)."""
        nodes = self.nodes
        if not nodes:
            self.ordered = True
        elif entry_id <= nodes[-1].ids[-1]:
            self.ordered = False
        node = nodes[-1] if nodes else None
        if node is not None:
            value_bytes = sum(map(len, items))
            if node.byte_size() + value_bytes >= NODE_MAX_BYTES or node.live + node.dead >= NODE_MAX_ENTRIES:
                node = None
        if node is None:
            node = Node(entry_id, items[0::2])
            at = bisect_right(self.masters, entry_id)
            nodes.insert(at, node)
            self.masters.insert(at, entry_id)
            self._tree_nodes = None
        node.append(entry_id, items)
        self.length += 1
        self.entries_added += 1
        self.last_id = entry_id
        if self.length == 1:
            self.first_id = entry_id

    # --- reading ------------------------------------------------------------------------
    def range(self, start: int, end: int, count: int = 0, reverse: bool = False) -> list:
        """Live entries with start <= ID <= end as [[id, [field, value, ...]], ...], at most
        `count` (0: all)."""
        nodes = self.nodes
        return [
            [format_id(nodes[i].ids[pos]), list(nodes[i].items[pos])]
            for i, pos in self.scan(start, end, count, reverse)
        ]

    def walk(self, start: int, end: int, count: int = 0, reverse: bool = False) -> list[tuple[int, tuple]]:
        """(id, items) of what range() returns."""
        nodes = self.nodes
        return [(nodes[i].ids[pos], nodes[i].items[pos]) for i, pos in self.scan(start, end, count, reverse)]

    def scan(self, start: int, end: int, count: int = 0, reverse: bool = False) -> list[tuple[int, int]]:
        """(node index, position) of the entries Redis' stream iterator emits for [start, end]:
        it starts at the node whose master ID is the last <= the bound (else at the edge), walks
        positions in order, skips tombstones and entries before the range, and stops at the first
        live entry past it, or after `count` (0: no limit). So the walk touches what it returns
        and the tombstones between; bisect finds the first position when the stream is ordered."""
        out: list = []
        nodes, masters = self.nodes, self.masters
        if not nodes:
            return out
        if not reverse:
            i = max(bisect_right(masters, start) - 1, 0)
            pos = bisect_left(nodes[i].ids, start) if self.ordered else 0
            while i < len(nodes):
                node = nodes[i]
                ids, deleted = node.ids, node.deleted
                while pos < len(ids):
                    if not deleted[pos]:
                        entry_id = ids[pos]
                        if entry_id >= start:
                            if entry_id > end:
                                return out
                            out.append((i, pos))
                            if len(out) == count:
                                return out
                    pos += 1
                i += 1
                pos = 0
            return out
        i = bisect_right(masters, end) - 1
        if i < 0:
            if self.ordered:
                return out  # every entry is above `end`
            i = len(nodes) - 1
        pos = bisect_right(nodes[i].ids, end) - 1 if self.ordered else len(nodes[i].ids) - 1
        while i >= 0:
            node = nodes[i]
            ids, deleted = node.ids, node.deleted
            while pos >= 0:
                if not deleted[pos]:
                    entry_id = ids[pos]
                    if entry_id <= end:
                        if entry_id < start:
                            return out
                        out.append((i, pos))
                        if len(out) == count:
                            return out
                pos -= 1
            i -= 1
            if i >= 0:
                pos = len(nodes[i].ids) - 1
        return out

    def _locate(self, entry_id: int) -> tuple[int, int] | None:
        """(node index, position) of a live entry, found as Redis' streamEntryExists finds it."""
        found = self.scan(entry_id, entry_id, 1)
        return found[0] if found else None

    def exists(self, entry_id: int) -> bool:
        return self._locate(entry_id) is not None

    def entry(self, entry_id: int) -> list | None:
        found = self._locate(entry_id)
        if found is None:
            return None
        i, pos = found
        return [format_id(entry_id), list(self.nodes[i].items[pos])]

    def edge_id(self, last: bool) -> int:
        """The first (or last) live entry's ID; the stream must not be empty. Tombstones between
        are walked, as Redis' streamGetEdgeID does."""
        nodes = self.nodes
        for node in reversed(nodes) if last else nodes:
            pos = node.first_live(reverse=last)
            if pos is not None:
                return node.ids[pos]
        raise AssertionError("a stream of length > 0 has a live entry")

    # --- removing -----------------------------------------------------------------------
    def delete(self, entry_id: int) -> bool:
        """streamDeleteItem: mark it deleted; a node whose last live entry goes is removed."""
        found = self._locate(entry_id)
        if found is None:
            return False
        i, pos = found
        node = self.nodes[i]
        if node.live == 1:
            del self.nodes[i]
            del self.masters[i]
            self._tree_nodes = None
            if not self.nodes:
                self.ordered = True
        else:
            node.deleted[pos] = 1
            node.live -= 1
            node.dead += 1
        self.length -= 1
        return True

    def trim(self, maxlen: int | None, minid: int | None, approx: bool, limit: int) -> int:
        """streamTrim: by length (maxlen) or by ID (minid); with approx only whole nodes go;
        limit (0: none) caps the entries removed. Returns how many were removed."""
        nodes = self.nodes
        deleted = 0
        gone = 0  # whole nodes removed from the head
        while gone < len(nodes):
            if maxlen is not None and self.length <= maxlen:
                break
            node = nodes[gone]
            entries = node.live
            if limit and deleted + entries > limit:
                break
            if maxlen is not None:
                remove = self.length - entries >= maxlen
            else:
                remove = node.ids[-1] < minid  # the node's last entry, tombstone or not
            if remove:
                gone += 1
                self.length -= entries
                deleted += entries
                continue
            if approx:
                break
            ids, flags = node.ids, node.deleted
            for pos in range(len(ids)):
                if (self.length <= maxlen) if maxlen is not None else (ids[pos] >= minid):
                    break
                if not flags[pos]:
                    flags[pos] = 1
                    node.live -= 1
                    node.dead += 1
                    self.length -= 1
                    deleted += 1
            break
        if gone:
            del nodes[:gone]
            del self.masters[:gone]
            self._tree_nodes = None
        if not nodes:
            self.ordered = True
        if self.length == 0:
            self.first_id = 0
        elif deleted:
            self.first_id = self.edge_id(last=False)
        return deleted

    # --- consumer groups' accounting (t_stream.c) ------------------------------------------
    def range_has_tombstones(self, start: int) -> bool:
        """streamRangeHasTombstones(s, start, NULL)."""
        if not self.length or not self.max_deleted:
            return False
        if self.first_id > self.max_deleted:
            return False
        return start <= self.max_deleted

    def estimate_entries_read(self, entry_id: int) -> int:
        """streamEstimateDistanceFromFirstEverEntry: the logical read counter of an ID, or -1."""
        if not self.entries_added:
            return 0
        if not self.length and entry_id <= self.last_id:
            return self.entries_added
        if entry_id == self.last_id:
            return self.entries_added
        if entry_id > self.last_id:
            return ENTRIES_READ_UNKNOWN
        if not self.max_deleted or self.max_deleted < self.first_id:
            if entry_id < self.first_id:
                return self.entries_added - self.length
            if entry_id == self.first_id:
                return self.entries_added - self.length + 1
        return ENTRIES_READ_UNKNOWN

    def lag(self, group: Group) -> int | None:
        """streamReplyWithCGLag: entries not delivered to the group yet, None when unknown."""
        if not self.entries_added:
            return 0
        if group.entries_read != ENTRIES_READ_UNKNOWN and not self.range_has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        entries_read = self.estimate_entries_read(group.last_id)
        if entries_read != ENTRIES_READ_UNKNOWN:
            return self.entries_added - entries_read
        return None

    # --- XINFO's radix tree figures ---------------------------------------------------------
    def tree_nodes(self) -> int:
        """rax->numnodes of Redis' tree of 16-byte node keys. rax keeps a compressed trie whose
        shape is a function of the key set for keys of one length (inserts split, deletes
        recompress), so it is counted from the keys: one node per branch point, per compressed
        chain and per leaf. Cached until the node set changes."""
        if self._tree_nodes is None:
            keys = [m.to_bytes(16, "big") for m in self.masters]
            self._tree_nodes = _trie_nodes(keys, 0, len(keys), 0) if keys else 1
        return self._tree_nodes

    # --- equality (tests) --------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and encode_stream(self) == encode_stream(other)


def _common_prefix(a: bytes, b: bytes) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _trie_nodes(keys: list[bytes], lo: int, hi: int, depth: int) -> int:
    """Nodes of the rax subtree that holds keys[lo:hi] (sorted, sharing `depth` bytes)."""
    if depth == len(keys[lo]):
        return 1  # the leaf holding the key
    shared = _common_prefix(keys[lo], keys[hi - 1]) if hi - lo > 1 else len(keys[lo])
    if shared > depth:
        return 1 + _trie_nodes(keys, lo, hi, shared)  # a compressed chain (or one-child node)
    total = 1  # a branch node, one child per distinct byte at `depth`
    start = lo
    for i in range(lo + 1, hi + 1):
        if i == hi or keys[i][depth] != keys[start][depth]:
            total += _trie_nodes(keys, start, i, depth + 1)
            start = i
    return total


TYPE_NAMES[Stream] = "stream"


# --- snapshot codec ------------------------------------------------------------------------
def _split(value: int) -> tuple[int, int]:
    return value >> SEQ_BITS, value & U64


def _join(hi: int, lo: int) -> int:
    return hi << SEQ_BITS | lo


def encode_stream(s: Stream) -> list:
    """[length, last, first, max_deleted, entries_added (IDs as ms, seq pairs), nodes, groups]."""
    nodes = []
    for node in s.nodes:
        ids: list = []
        for entry_id in node.ids:
            ids += _split(entry_id)
        items = [list(entry) for entry in node.items]
        nodes.append([*_split(node.master), list(node.fields), ids, items, bytes(node.deleted), node.base])
    groups = []
    for name in sorted(s.groups):
        group = s.groups[name]
        pel: list = []
        for entry_id in group.pel_ids:
            nack = group.pel[entry_id]
            pel += (*_split(entry_id), nack.time, nack.count, nack.consumer.name)
        consumers: list = []
        for consumer_name in sorted(group.consumers):
            consumers += (consumer_name, group.consumers[consumer_name].seen)
        groups.append([name, *_split(group.last_id), group.entries_read, pel, consumers])
    return [
        s.length,
        *_split(s.last_id),
        *_split(s.first_id),
        *_split(s.max_deleted),
        s.entries_added,
        nodes,
        groups,
    ]


def decode_stream(data: list) -> Stream:
    s = Stream()
    length, lh, ll, fh, fl, dh, dl, s.entries_added, nodes, groups = data
    s.length, s.last_id, s.first_id, s.max_deleted = length, _join(lh, ll), _join(fh, fl), _join(dh, dl)
    for mh, ml, fields, ids, items, deleted, base in nodes:
        node = Node(_join(mh, ml), tuple(fields))
        node.ids = [_join(ids[i], ids[i + 1]) for i in range(0, len(ids), 2)]
        node.items = [tuple(i) for i in items]
        node.deleted = bytearray(deleted)
        node.dead = sum(node.deleted)
        node.live = len(node.ids) - node.dead
        node.base = base
        s.nodes.append(node)
        s.masters.append(node.master)
    every = [entry_id for node in s.nodes for entry_id in node.ids]
    s.ordered = all(a < b for a, b in zip(every, every[1:]))
    for name, gh, gl, entries_read, pel, consumers in groups:
        group = s.groups[name] = Group(_join(gh, gl), entries_read)
        for i in range(0, len(consumers), 2):
            group.consumers[consumers[i]] = Consumer(consumers[i], consumers[i + 1])
        for i in range(0, len(pel), 5):
            ih, il, time, count, owner = pel[i : i + 5]
            group.add_nack(_join(ih, il), Nack(time, count, group.consumers[owner]))
    return s


register_codec(5, Stream, encode_stream, decode_stream)
