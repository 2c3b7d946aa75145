"""Glob patterns with Redis' semantics (util.c stringmatchlen), in time O(len(string) * len(pattern)).

Redis matches `*`, `?`, `[abc]`, `[^a]`, `[a-z]` and `\\x` escapes with a
recursive backtracker; translated naively (one regex `.*` per star, or plain
recursion) a pattern like `a*a*a*...*b` over a long string backtracks
exponentially. Here a pattern is parsed once into one-byte tokens split at its
star runs into fixed-width segments, and a string matches greedily: the first
segment anchored at the start, the last anchored at the end, every middle one
at its leftmost occurrence after the previous (correct for globs because
every token is one byte wide: matching a segment earlier never hurts the
rest). A segment is star-free: a literal one is found with bytes.find, any
other with a regex compiled on first use, so a search costs at most
len(string) * len(segment) steps in C, a whole match at most
len(string) * len(pattern), and parsing the pattern is linear in it (literal
runs at C speed).

Redis' quirks are kept, since clients see them:
- the empty string matches only the empty pattern (Redis never tries a star
  on an empty remainder; KEYS and SCAN special-case the pattern "*" before
  matching, and `matcher(b"*")` returns None for the same reason);
- a class is parsed exactly as Redis does: `]` right after `[` or `[^` closes
  it (empty), an unterminated class ends with the pattern, `\\` escapes one
  byte, `x-y` is a range with its ends swapped if reversed and compared as
  C's signed char (so bytes >= 0x80 sort below 0x00), and `[a-]` is the range
  a..`]`;
- a trailing lone `\\` is a literal backslash;
- Redis' nesting limit: a pattern with more than 1000 star runs followed by
  something (more than 1000 recursion levels) matches nothing (its regression
  test "pattern matching very long nested loops" relies on it);
- `nocase` (CONFIG GET) compares with C's tolower, except an escaped byte
  inside a class, which Redis compares exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

NESTING_MAX = 1000  # Redis' stringmatchlen_impl: `if (nesting > 1000) return 0`

STAR = -1  # token: a run of stars; else bytes (a literal run) or the 256-bit mask of the bytes one position accepts
ANY = (1 << 256) - 1
_UPPER = ((1 << 91) - 1) ^ ((1 << 65) - 1)  # A-Z
_LOWER = _UPPER << 32  # a-z


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def _lower(byte: int) -> int:
    """C tolower in the C locale, on a signed char value."""
    return byte + 32 if 65 <= byte <= 90 else byte


def _range_mask(start: int, end: int) -> int:
    """The bytes whose signed value lies in [start, end] (signed char arithmetic, as Redis)."""
    mask = 0
    if start < 0:  # the negative part: bytes 0x80..0xff
        hi = min(end, -1)
        if start <= hi:
            mask |= ((1 << (hi + 257)) - 1) ^ ((1 << (start + 256)) - 1)
    lo = max(start, 0)
    if lo <= end:
        mask |= ((1 << (end + 1)) - 1) ^ ((1 << lo) - 1)
    return mask


def _fold(mask: int) -> int:
    """nocase: the bytes c with tolower(c) in mask (mask already holds lowered values)."""
    return (mask & ~_UPPER) | ((mask & _LOWER) >> 32)


def _single(byte: int, nocase: bool) -> int:
    if nocase:
        return _fold(1 << _lower(byte) if byte < 128 else 1 << byte)
    return 1 << byte


_LITERAL_RUN = re.compile(rb"[^*?\[\\]+")


def tokenize(pattern: bytes, nocase: bool = False) -> list[int | bytes]:
    """The pattern as tokens: STAR for a run of stars, bytes for a run of literal bytes, else the
    mask of the bytes one position accepts. Literal runs are cut by a regex, at C speed: the
    usual pattern (`user:*`) costs a few Python steps, not one per byte."""
    tokens: list[int | bytes] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 42:  # '*'
            if not tokens or tokens[-1] != STAR:
                tokens.append(STAR)
        elif c == 63:  # '?'
            tokens.append(ANY)
        elif c == 91:  # '['
            i, mask = _parse_class(pattern, i + 1, nocase)
            tokens.append(mask)
        elif c == 92:  # '\\': the next byte, literally (a trailing one is itself)
            if i + 1 < n:
                i += 1
            tokens.append(_single(pattern[i], nocase) if nocase else pattern[i : i + 1])
        else:
            run = _LITERAL_RUN.match(pattern, i).group()
            if nocase:  # each byte accepts its other case too: a mask per position
                tokens.extend(_single(byte, True) for byte in run)
            else:
                tokens.append(run)
            i += len(run) - 1
        i += 1
    return tokens


def _parse_class(pattern: bytes, i: int, nocase: bool) -> tuple[int, int]:
    """A class starting after its '[': (index of its last byte, mask). Mirrors Redis' loop."""
    n = len(pattern)
    negate = i < n and pattern[i] == 94  # '^'
    if negate:
        i += 1
    mask = 0
    while True:
        if i < n and pattern[i] == 92 and n - i >= 2:  # escaped byte: exact, even with nocase
            i += 1
            mask |= 1 << pattern[i]
        elif i < n and pattern[i] == 93:  # ']'
            break
        elif i >= n:  # unterminated: the class ends with the pattern
            i = n - 1
            break
        elif n - i >= 3 and pattern[i + 1] == 45:  # 'x-y'
            start, end = _signed(pattern[i]), _signed(pattern[i + 2])
            if start > end:
                start, end = end, start
            if nocase:
                start, end = _lower(start), _lower(end)
                mask |= _fold(_range_mask(start, end))
            else:
                mask |= _range_mask(start, end)
            i += 2
        else:
            mask |= _single(pattern[i], nocase)
        i += 1
    return i, (ANY ^ mask) if negate else mask


@lru_cache(maxsize=4096)
def _regex_piece(mask: int) -> bytes:
    """One position's mask as a regex atom (byte ranges as \\xNN escapes)."""
    if mask == ANY:
        return b"."
    if mask == 0:
        return b"(?!)"
    if mask & (mask - 1) == 0:
        return re.escape(bytes([mask.bit_length() - 1]))
    runs = []
    byte = 0
    while byte < 256:
        if mask >> byte & 1:
            start = byte
            while byte < 256 and mask >> byte & 1:
                byte += 1
            runs.append(b"\\x%02x-\\x%02x" % (start, byte - 1))
        else:
            byte += 1
    return b"[" + b"".join(runs) + b"]"


class _Segment:
    """A star-free run of tokens: a fixed number of bytes. A pure literal is matched with
    bytes methods; anything else with a regex, compiled on first use only (so its cost, linear
    in the segment, is paid only once some string is long enough to hold the whole pattern)."""

    __slots__ = ("tokens", "size", "literal", "_regex")

    def __init__(self, tokens: list[int | bytes]) -> None:
        self.tokens = tokens
        self.size = sum(len(t) if t.__class__ is bytes else 1 for t in tokens)
        self.literal = b"".join(tokens) if all(t.__class__ is bytes for t in tokens) else None
        self._regex: re.Pattern[bytes] | None = None

    def regex(self) -> re.Pattern[bytes]:
        if self._regex is None:
            atoms = (re.escape(t) if t.__class__ is bytes else _regex_piece(t) for t in self.tokens)
            self._regex = re.compile(b"".join(atoms), re.DOTALL)
        return self._regex

    def at(self, string: bytes, pos: int) -> bool:
        """Whether the segment matches string[pos : pos + size] (the caller checked the length)."""
        if self.literal is not None:
            return string.startswith(self.literal, pos)
        return self.regex().match(string, pos) is not None

    def find(self, string: bytes, pos: int, end: int) -> int:
        """The leftmost start >= pos of a match lying within string[:end], or -1."""
        if self.literal is not None:
            return string.find(self.literal, pos, end)
        found = self.regex().search(string, pos, end)
        return -1 if found is None else found.start()


Matcher = Callable[[bytes], bool]


def _never(string: bytes) -> bool:
    return False


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes, nocase: bool = False) -> Matcher:
    """A predicate string -> bool with Redis' stringmatchlen semantics (see the module docstring)."""
    tokens = tokenize(pattern, nocase)
    if not tokens:
        return lambda string: not string
    stars = [i for i, token in enumerate(tokens) if token == STAR]
    inner_stars = len(stars) - (tokens[-1] == STAR)
    if inner_stars > NESTING_MAX:
        return _never
    bounds = [-1, *stars, len(tokens)]
    segments = [_Segment(tokens[a + 1 : b]) for a, b in zip(bounds, bounds[1:])]
    if not stars:
        whole = segments[0]
        return lambda string: len(string) == whole.size and whole.at(string, 0)
    first, last = segments[0], segments[-1]
    middle = [segment for segment in segments[1:-1] if segment.size]
    fixed = first.size + last.size + sum(segment.size for segment in middle)

    def match(string: bytes) -> bool:
        n = len(string)
        if not n or n < fixed:
            return False
        if first.size and not first.at(string, 0):
            return False
        pos = first.size
        tail = n - last.size  # the last segment sits at the very end
        for segment in middle:
            found = segment.find(string, pos, tail)
            if found < 0:
                return False
            pos = found + segment.size
        return not last.size or last.at(string, tail)

    return match
