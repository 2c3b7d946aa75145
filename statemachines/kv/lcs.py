"""LCS (Redis 7.0 t_string.c lcsCommand): the longest common subsequence of two strings.

Redis fills the whole (len(a)+1) x (len(b)+1) table of uint32 LCS lengths and walks it back
from the corner; it refuses when that table would exceed proto-max-bulk-len (512 MiB, so about
134 million cells) and that is the bound here too, with the same error, for the same inputs
(even when one string is empty). Within it a Python loop over cells would take minutes, so the
table is computed bit-parallel (Allison and Dix, in Hyyro's form): one big-integer step per
character of the shorter string gives a row of the table as a bit vector over the longer string,
whose set bits mark where the LCS length grows by one. Work is O(n * m / word) and memory
n * m bits (16 MiB at the bound).

The reply must be Redis' own LCS, not just any: its walk back goes diagonally on a match, else
up (i - 1) when LCS(i-1, j) > LCS(i, j-1), else left (j - 1). Both decisions are read off the
bit rows, and a run of moves along one row is taken in one step (the next match or growth in
that row is the highest set bit of a mask), so the walk costs O(shorter) steps too:

- rows over `a` (len(a) <= len(b)): at a mismatch, LCS(i-1, j) > LCS(i, j-1) exactly when
  row i grows at column j; otherwise the walk goes left until row i matches or grows;
- rows over `b`: row j growing at column i means LCS(i-1, j) < LCS(i, j), so the walk goes to
  j - 1; otherwise LCS(i-1, j) = LCS(i, j) and the walk goes up while LCS(i, j-1) < LCS(i, j),
  which two popcounts decide once for the whole run (LCS(i', j-1) only falls as i' falls).

"String too long for LCS" (a string of 4 GiB) cannot happen: no value is that long.
"""

from __future__ import annotations

from statemachines import NOT_AN_INTEGER, ReplyError, Result
from statemachines.kv.bitmaps import c_string
from statemachines.kv.keyspace import SYNTAX, Keyspace, parse_int
from statemachines.kv.strings import STRING_BYTES_MAX
from statemachines.kv.table import command

NOT_STRINGS = ReplyError("ERR The specified keys must contain string values")
LEN_AND_IDX = ReplyError("ERR If you want both the length and indexes, please just use IDX.")
TABLE_TOO_LARGE = ReplyError("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
CELL_BYTES = 4  # Redis' table holds uint32 lengths


def positions(text: bytes, char: int) -> int:
    """A bit vector with bit k set where text[k] == char (int() of a base-2 string is linear)."""
    digits = bytearray(b"0" * 256)
    digits[char] = ord("1")
    return int(text.translate(digits)[::-1], 2)


def growth_rows(rows: bytes, columns: bytes) -> tuple[list[int], dict[int, int]]:
    """For i = 1..len(rows), the bit vector over columns with bit k set where
    LCS(rows[:i], columns[:k+1]) = LCS(rows[:i], columns[:k]) + 1; and the match vectors used.
    Hyyro's recurrence: V holds the complement, one add and a few bitwise ops per row."""
    full = (1 << len(columns)) - 1
    matches = {char: positions(columns, char) for char in set(rows)}
    grows = []
    v = full
    for char in rows:
        u = v & matches[char]
        v = ((v + u) | (v - u)) & full
        grows.append(v ^ full)
    return grows, matches


class _Ranges:
    """The IDX ranges as lcsCommand tracks and emits them during its walk back."""

    def __init__(self, alen: int, minimum: int, with_length: bool) -> None:
        self.alen = alen
        self.minimum = minimum
        self.with_length = with_length
        self.a_start = alen  # alen: no open range
        self.a_end = self.b_start = self.b_end = 0
        self.out: list[list] = []

    def matched(self, i: int, j: int) -> None:
        """a[i-1] == b[j-1] on the walk."""
        emit = False
        if self.a_start == self.alen:
            self.a_start = self.a_end = i - 1
            self.b_start = self.b_end = j - 1
        elif self.a_start == i and self.b_start == j:
            self.a_start -= 1
            self.b_start -= 1
        else:
            emit = True
        if self.a_start == 0 or self.b_start == 0:
            emit = True
        if emit:
            self._emit()

    def moved(self) -> None:
        """A step (or a run of steps) without a match closes the open range."""
        if self.a_start != self.alen:
            self._emit()

    def _emit(self) -> None:
        length = self.a_end - self.a_start + 1
        if self.minimum == 0 or length >= self.minimum:
            entry = [[self.a_start, self.a_end], [self.b_start, self.b_end]]
            if self.with_length:
                entry.append(length)
            self.out.append(entry)
        self.a_start = self.alen


def walk_back(a: bytes, b: bytes, ranges: _Ranges) -> bytes:
    """lcsCommand's walk from (len(a), len(b)) to an edge: the LCS, and the ranges recorded."""
    i, j = len(a), len(b)
    found = bytearray()
    if not i or not j:
        return b""
    if i <= j:
        grows, matches = growth_rows(a, b)
        while i > 0 and j > 0:
            if a[i - 1] == b[j - 1]:
                found.append(a[i - 1])
                ranges.matched(i, j)
                i -= 1
                j -= 1
                continue
            row = grows[i - 1]
            if (row >> (j - 1)) & 1:
                i -= 1
            else:  # left, along row i, to its next match or growth
                j = ((matches[a[i - 1]] | row) & ((1 << (j - 1)) - 1)).bit_length()
            ranges.moved()
    else:
        grows, matches = growth_rows(b, a)
        while i > 0 and j > 0:
            if a[i - 1] == b[j - 1]:
                found.append(a[i - 1])
                ranges.matched(i, j)
                i -= 1
                j -= 1
                continue
            row = grows[j - 1]
            if (row >> (i - 1)) & 1:
                j -= 1
            else:
                below = (1 << i) - 1
                here = (row & below).bit_count()  # LCS(i, j)
                left = (grows[j - 2] & below).bit_count() if j >= 2 else 0  # LCS(i, j-1)
                if left < here:  # up, along row j, to its next match or growth
                    i = ((matches[b[j - 1]] | row) & ((1 << (i - 1)) - 1)).bit_length()
                else:
                    j -= 1
            ranges.moved()
    found.reverse()
    return bytes(found)


def _string_or_empty(ks: Keyspace, key: bytes, now: int) -> bytes | None:
    value = ks.get(key, now)
    if value is None:
        return b""
    return value if type(value) is bytes else None


@command(
    "lcs",
    -3,
    "readonly",
    (1, 2, 1),
    group="string",
    syntax="key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
    summary="Find longest common substring",
)
def cmd_lcs(ks: Keyspace, args: list[bytes], now: int) -> Result:
    a = _string_or_empty(ks, args[1], now)
    b = _string_or_empty(ks, args[2], now)
    if a is None or b is None:
        return NOT_STRINGS  # before the options are read, as Redis
    get_len = get_idx = with_length = False
    minimum = 0
    j, n = 3, len(args)
    while j < n:
        option = c_string(args[j]).lower()
        if option == b"idx":
            get_idx = True
        elif option == b"len":
            get_len = True
        elif option == b"withmatchlen":
            with_length = True
        elif option == b"minmatchlen" and j < n - 1:
            value = parse_int(args[j + 1])
            if value is None:
                return NOT_AN_INTEGER
            minimum = max(value, 0)
            j += 1
        else:
            return SYNTAX
        j += 1
    if get_len and get_idx:
        return LEN_AND_IDX
    if (len(a) + 1) * (len(b) + 1) * CELL_BYTES > STRING_BYTES_MAX:
        return TABLE_TOO_LARGE
    ranges = _Ranges(len(a), minimum, with_length)
    common = walk_back(a, b, ranges)
    if get_idx:
        return {b"matches": ranges.out, b"len": len(common)}
    if get_len:
        return len(common)
    return common
