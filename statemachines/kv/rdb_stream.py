"""Streams in DUMP/RESTORE: Redis 7.0's RDB_TYPE_STREAM_LISTPACKS_2 (src/rdb.c, src/t_stream.c).

    <node count> (<master ID: 16-byte string> <listpack: string>)*
    <length> <last ID> <first ID> <max deleted ID> <entries added>     (IDs as two lengths)
    <group count> (<name> <last ID> <entries read> <PEL> <consumers>)*
    PEL       = <count> (<ID: 16 raw bytes> <delivery time: 8 bytes LE> <delivery count>)*
    consumers = <count> (<name> <seen time: 8 bytes LE> <count> <ID: 16 raw bytes>*)*

A node's listpack is what t_stream.c builds (streamAppendItem): the master entry
`live, deleted, field count, fields..., 0`, then per entry `flags, ms-diff, seq-diff,
[field count, fields and values | values when SAMEFIELDS], lp-count`. streams.Node keeps all of
it (tombstones included), so a dumped stream restores into redis-server with the same nodes,
and a stream dumped there restores here with the node boundaries that XTRIM ~ and XINFO see.

Loading checks what Redis' deep sanitizer (streamValidateListpackIntegrity) checks, and more:
IDs strictly increasing across nodes, each master ID equal to its key, live and deleted counts
matching the flags, lp-counts right, every pending ID owned by exactly one consumer; anything
else is "ERR Bad data format". The RDB 9 form (RDB_TYPE_STREAM_LISTPACKS, Redis < 7.0) is not
read: its group offsets would have to be estimated (a Redis 6 DUMP answers Bad data format).
"""

from __future__ import annotations

from statemachines import INT64_MAX
from statemachines.kv.rdb import RDB_TYPE_STREAM_LISTPACKS_2, register_loader, register_saver
from statemachines.kv.rdb_codec import listpack
from statemachines.kv.rdb_codec.reader import BadData, Reader
from statemachines.kv.rdb_codec.writer import rdb_len, rdb_string
from statemachines.kv.streams import FLAG_SAMEFIELDS, SEQ_BITS, U64, Consumer, Group, Nack, Node, Stream

FLAG_DELETED = 1
ID_BYTES = 16


def _id_key(entry_id: int) -> bytes:
    return entry_id.to_bytes(ID_BYTES, "big")


def _id_lengths(entry_id: int) -> bytes:
    return rdb_len(entry_id >> SEQ_BITS) + rdb_len(entry_id & U64)


def _signed(value: int) -> bytes:
    value &= U64
    return b"%d" % (value - (1 << 64) if value >> 63 else value)


def _node_listpack(node: Node) -> bytes:
    elements = [b"%d" % node.live, b"%d" % node.dead, b"%d" % len(node.fields), *node.fields, b"0"]
    master_ms, master_seq = node.master >> SEQ_BITS, node.master & U64
    for entry_id, items, deleted in zip(node.ids, node.items, node.deleted):
        fields = items[0::2]
        same = fields == node.fields
        flags = (FLAG_SAMEFIELDS if same else 0) | (FLAG_DELETED if deleted else 0)
        elements += (b"%d" % flags, _signed((entry_id >> SEQ_BITS) - master_ms), _signed((entry_id & U64) - master_seq))
        if same:
            elements += items[1::2]
            count = len(fields) + 3
        else:
            elements.append(b"%d" % len(fields))
            elements += items
            count = 2 * len(fields) + 4
        elements.append(b"%d" % count)
    return listpack.build(elements)


def save_stream(s: Stream) -> tuple[int, bytes]:
    out = [rdb_len(len(s.nodes))]
    for node in s.nodes:
        out += (rdb_string(_id_key(node.master)), rdb_string(_node_listpack(node)))
    out += (rdb_len(s.length), _id_lengths(s.last_id), _id_lengths(s.first_id), _id_lengths(s.max_deleted))
    out.append(rdb_len(s.entries_added))
    out.append(rdb_len(len(s.groups)))
    for name in sorted(s.groups):  # a rax iterates in key order
        group = s.groups[name]
        out += (rdb_string(name), _id_lengths(group.last_id), rdb_len(group.entries_read & U64))
        out.append(rdb_len(len(group.pel_ids)))
        for entry_id in group.pel_ids:
            nack = group.pel[entry_id]
            out += (_id_key(entry_id), nack.time.to_bytes(8, "little", signed=True), rdb_len(nack.count))
        out.append(rdb_len(len(group.consumers)))
        for consumer_name in sorted(group.consumers):
            consumer = group.consumers[consumer_name]
            out += (rdb_string(consumer_name), consumer.seen.to_bytes(8, "little", signed=True))
            out.append(rdb_len(len(consumer.pel)))
            out += map(_id_key, consumer.pel)
    return RDB_TYPE_STREAM_LISTPACKS_2, b"".join(out)


# --- loading -----------------------------------------------------------------------------------
def _int(element: int | bytes) -> int:
    if type(element) is not int:
        raise BadData("a stream listpack holds a string where an integer belongs")
    return element


def _read_int64(reader: Reader) -> int:
    """A counter Redis keeps as a long long (entries added, entries read, delivery count): one
    beyond it would reach clients as a number no RESP parser takes."""
    value = reader.length()
    if value > INT64_MAX:
        raise BadData("counter beyond 64 signed bits")
    return value


def _read_id(reader: Reader) -> int:
    ms, seq = reader.length(), reader.length()
    if ms > U64 or seq > U64:
        raise BadData("stream ID beyond 64 bits")
    return ms << SEQ_BITS | seq


def _node(key: bytes, blob: bytes, after: int) -> Node:
    """One node from its master key and listpack; every ID must be above `after`."""
    if len(key) != ID_BYTES:
        raise BadData("stream node key is not an ID")
    master = int.from_bytes(key, "big")
    elements = listpack.parse(blob)
    if len(elements) < 4:
        raise BadData("stream listpack without a master entry")
    live, dead, field_count = _int(elements[0]), _int(elements[1]), _int(elements[2])
    if field_count < 0 or len(elements) < 4 + field_count or elements[3 + field_count] != 0:
        raise BadData("stream master entry")
    node = Node(master, tuple(map(listpack.as_bytes, elements[3 : 3 + field_count])))
    pos, end = 4 + field_count, len(elements)
    previous = after
    while pos < end:
        flags = _int(elements[pos])
        if flags & ~(FLAG_DELETED | FLAG_SAMEFIELDS) or pos + 3 > end:
            raise BadData("stream entry flags")
        ms = ((master >> SEQ_BITS) + _int(elements[pos + 1])) & U64
        seq = ((master & U64) + _int(elements[pos + 2])) & U64
        entry_id = ms << SEQ_BITS | seq
        if entry_id <= previous or entry_id < master:
            raise BadData("stream IDs out of order")
        pos += 3
        if flags & FLAG_SAMEFIELDS:
            count = len(node.fields)
            values = elements[pos : pos + count]
            if len(values) != count:
                raise BadData("stream entry truncated")
            items = tuple(x for pair in zip(node.fields, map(listpack.as_bytes, values)) for x in pair)
            pos += count
            lp_count = count + 3
        else:
            count = _int(elements[pos]) if pos < end else -1
            if count < 0 or pos + 1 + 2 * count > end:
                raise BadData("stream entry truncated")
            items = tuple(map(listpack.as_bytes, elements[pos + 1 : pos + 1 + 2 * count]))
            pos += 1 + 2 * count
            lp_count = 2 * count + 4
        if pos >= end or _int(elements[pos]) != lp_count:
            raise BadData("stream entry lp-count")
        pos += 1
        node.append(entry_id, items)
        if flags & FLAG_DELETED:
            node.deleted[-1] = 1
            node.live -= 1
            node.dead += 1
        previous = entry_id
    if not node.ids or (node.live, node.dead) != (live, dead):
        raise BadData("stream node counts")
    return node


def load_stream(reader: Reader, code: int) -> Stream:
    s = Stream()
    last = -1
    for _ in range(reader.count(2)):
        node = _node(reader.string(), reader.string(), last)
        if node.master <= last:
            raise BadData("stream nodes out of order")
        s.nodes.append(node)
        s.masters.append(node.master)
        last = node.ids[-1]
    s.length = reader.length()
    s.last_id, s.first_id, s.max_deleted = _read_id(reader), _read_id(reader), _read_id(reader)
    s.entries_added = _read_int64(reader)
    if s.length != sum(node.live for node in s.nodes) or (s.nodes and s.last_id < last):
        raise BadData("stream length or last ID")
    for _ in range(reader.count(3)):
        name = reader.string()
        if name in s.groups:
            raise BadData("duplicate consumer group")
        last_id = _read_id(reader)
        entries_read = reader.length()  # -1 (unknown) is saved as 2^64 - 1
        if INT64_MAX < entries_read < U64:
            raise BadData("entries read beyond 64 signed bits")
        group = s.groups[name] = Group(last_id, -1 if entries_read == U64 else entries_read)
        pending: dict[int, tuple[int, int]] = {}
        for _ in range(reader.count(ID_BYTES + 9)):
            entry_id = int.from_bytes(reader.take(ID_BYTES), "big")
            time = int.from_bytes(reader.take(8), "little", signed=True)
            pending[entry_id] = (time, _read_int64(reader))
        for _ in range(reader.count(9)):
            consumer_name = reader.string()
            if consumer_name in group.consumers:
                raise BadData("duplicate consumer")
            consumer = group.consumers[consumer_name] = Consumer(
                consumer_name, int.from_bytes(reader.take(8), "little", signed=True)
            )
            for _ in range(reader.count(ID_BYTES)):
                entry_id = int.from_bytes(reader.take(ID_BYTES), "big")
                owned = pending.pop(entry_id, None)
                if owned is None:
                    raise BadData("consumer entry not found in the group's PEL")
                group.add_nack(entry_id, Nack(owned[0], owned[1], consumer))
        if pending:
            raise BadData("pending entries without a consumer")
    return s


register_saver(Stream, save_stream)
register_loader((RDB_TYPE_STREAM_LISTPACKS_2,), load_stream)
