"""The byte formats inside a Redis DUMP payload, each in its own module, with no knowledge of
the keyspace: statemachines/kv/rdb.py builds values from them.

    crc64.py     Redis' CRC-64 (Jones polynomial, reflected): the payload's checksum
    lzf.py       LZF decompression (RDB_ENC_LZF strings, compressed quicklist nodes)
    reader.py    a bounded cursor over a payload: RDB lengths, strings, doubles; BadData
    writer.py    RDB lengths and strings as Redis writes them
    listpack.py  listpacks (Redis 7 small hashes, sorted sets, list nodes): read and write
    ziplist.py   ziplists (RDB 9 and older small encodings): read
    intset.py    intsets (sets of integers): read and write

Every reader raises BadData (never IndexError, struct.error, MemoryError) on malformed input,
and checks every length taken from the payload against the bytes actually present before it
builds anything, so decoding a payload costs time and memory linear in its size.
"""
