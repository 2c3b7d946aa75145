"""Check a data.mdb against LMDB's own metadata before LMDB maps it.

LMDB maps the file and follows page numbers without checks: a file cut short
makes the process die of SIGBUS on the first read past its end, and a damaged
meta page sends it after pages that do not exist. Neither gives an operator a
word. So before opening the environment we read the two meta pages ourselves
(LMDB 0.9, data version 1, 64-bit build), the way mdb_env_read_header does:

    page 0 and page 1: a 16-byte page header, then MDB_meta
      mm_magic u32 (0xBEEFC0DE)  mm_version u32 (1)  mm_address ptr  mm_mapsize size_t
      mm_dbs[2] MDB_db (48 bytes each: md_pad u32 - in mm_dbs[0] of page 0 the page
                        size -, md_flags u16, md_depth u16, 4 page counts, md_entries,
                        md_root)
      mm_last_pg pgno  mm_txnid u64

LMDB uses the meta with the higher txnid; a commit writes the other one, so
the two txnids differ by one (both are 0 in a fresh file). We require both
pages to be well formed, the txnids to agree, every root to be a page below
mm_last_pg, and the file to hold pages 0..mm_last_pg of the meta LMDB will use.

LMDB also trusts its b-tree pages: some damage it reports (MDB_CORRUPTED,
MDB_PAGE_NOTFOUND), some makes it fail an assertion and abort the process. So a
node walks every page once at start-up in a child process (`walk_in_child`),
where an abort costs a child and becomes a message.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

_PAGE_HEADER = 16
_META = struct.Struct("=IIQQ48s48sQQ")  # magic, version, address, mapsize, dbs[2], last_pg, txnid
_DB = struct.Struct("=IHHQQQQQ")  # pad, flags, depth, branch, leaf, overflow, entries, root
MAGIC = 0xBEEFC0DE
DATA_VERSION = 1
_NO_ROOT = 2**64 - 1  # P_INVALID: an empty database


class LmdbFileDamaged(Exception):
    """data.mdb does not agree with its own metadata; the text says how."""


def check_data_file(data: Path) -> None:
    """Raise LmdbFileDamaged if `data` (a non-empty data.mdb) cannot be mapped safely."""
    try:
        size = os.stat(data).st_size
        with open(data, "rb") as f:
            first = f.read(_PAGE_HEADER + _META.size)
            if len(first) < _PAGE_HEADER + _META.size:
                raise LmdbFileDamaged(f"it is {size} bytes, too short to hold LMDB's meta pages (truncated)")
            page0 = _meta(first, 0)
            psize = _DB.unpack(page0[4])[0]  # mm_dbs[FREE_DBI].md_pad of page 0
            if psize < 512 or psize > 1 << 16 or psize & (psize - 1):
                raise LmdbFileDamaged(f"meta page 0 names an impossible page size {psize}")
            f.seek(psize)
            second = f.read(_PAGE_HEADER + _META.size)
    except OSError as e:
        raise LmdbFileDamaged(f"it cannot be read ({e})") from None
    if len(second) < _PAGE_HEADER + _META.size:
        raise LmdbFileDamaged(f"it is {size} bytes, too short to hold LMDB's second meta page (truncated)")
    page1 = _meta(second, 1)
    txn0, txn1 = page0[7], page1[7]
    if abs(txn0 - txn1) > 1:
        raise LmdbFileDamaged(f"its two meta pages disagree (transaction ids {txn0} and {txn1})")
    used = page0 if txn0 > txn1 else page1
    last_pg = used[6]
    needed = (last_pg + 1) * psize
    if size < needed:
        raise LmdbFileDamaged(
            f"it is {size} bytes but its metadata says it holds {last_pg + 1} pages of {psize} bytes "
            f"({needed} bytes): it was truncated"
        )
    for number, meta in ((0, page0), (1, page1)):
        for db in (meta[4], meta[5]):
            root = _DB.unpack(db)[7]
            if root != _NO_ROOT and not 2 <= root <= meta[6]:
                raise LmdbFileDamaged(f"meta page {number} points to page {root}, outside the file's pages")


def _meta(raw: bytes, number: int) -> tuple:
    meta = _META.unpack_from(raw, _PAGE_HEADER)
    if meta[0] != MAGIC:
        raise LmdbFileDamaged(f"meta page {number} has no LMDB magic number")
    if meta[1] != DATA_VERSION:
        raise LmdbFileDamaged(f"meta page {number} has LMDB data version {meta[1]}, not {DATA_VERSION}")
    return meta


_WALK = """
import sys, lmdb
env = lmdb.open(sys.argv[1], readonly=True, lock=False, subdir=True, max_dbs=16)
try:
    with env.begin() as txn:
        names = [key for key, _ in txn.cursor()]
    for name in names:
        db = env.open_db(name, create=False)
        with env.begin(db=db, buffers=True) as txn:
            count = sum(1 for _ in txn.cursor().iternext(keys=True, values=True))
            if count != txn.stat(db)["entries"]:
                print(f"its database {name!r} holds {count} records, its header says {txn.stat(db)['entries']}")
                sys.exit(3)
except lmdb.Error as e:
    print(f"LMDB reports {e}")
    sys.exit(3)
"""


def walk_in_child(path: Path, timeout_s: float = 600.0) -> str | None:
    """Read every record of every database of the LMDB environment in `path` in a child
    process; what went wrong, or None. The caller holds the directory, so the child
    may read without LMDB's lock file."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _WALK, str(path)], capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return f"reading its LMDB pages took longer than {timeout_s:.0f}s"
    if proc.returncode == 0:
        return None
    if proc.returncode < 0:
        last = proc.stderr.strip().splitlines()[-1:]
        said = f": {last[0][-200:]}" if last else ""
        return f"LMDB crashed reading its pages ({_signal_name(-proc.returncode)}{said})"
    return proc.stdout.strip() or proc.stderr.strip()[-300:]


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name}, a damaged page"
    except ValueError:
        return f"signal {number}"
