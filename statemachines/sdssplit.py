"""Redis' sdssplitargs: how Redis splits a line into arguments, quotes and escapes included.

Two places split as Redis does: the RESP frontend's inline commands (frontends/resp/protocol.py)
and a function library's shebang line (statemachines/kv/functions.py). It lives here, in the
layer both may import, so the two never drift apart.
"""

from __future__ import annotations

_SPACE = frozenset(b" \t\n\r\x0b\x0c")  # C isspace()
_TOKEN_END = frozenset(b" \n\r\t")  # unquoted token ends (and NUL, handled as end of line)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_NEEDS_SLOW_SPLIT = (b'"', b"'", b"\x0b", b"\x0c", b"\x00")


def split_args(line: bytes) -> list[bytes] | None:
    """Redis' sdssplitargs: split an inline command; None on unbalanced quotes.

    Double quotes take \\xHH and \\n \\r \\t \\b \\a escapes; single quotes take \\'.
    A closing quote must be followed by a space or the end of the line.
    """
    if not any(c in line for c in _NEEDS_SLOW_SPLIT):
        return line.split()
    end = line.find(b"\0")
    if end >= 0:  # C string: the line ends at the first NUL
        line = line[:end]
    n = len(line)
    out: list[bytes] = []
    i = 0
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return out
        in_double = in_single = False
        token = bytearray()
        while True:
            c = line[i] if i < n else 0
            nxt = line[i + 1] if i + 1 < n else 0
            if in_double:
                if c == 92 and nxt == 120 and i + 3 < n and line[i + 2] in _HEX and line[i + 3] in _HEX:
                    token.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and nxt:
                    i += 1
                    token.append(_ESCAPES.get(nxt, nxt))
                elif c == 34:
                    if nxt and nxt not in _SPACE:
                        return None
                    i += 1
                    break
                elif not c:
                    return None
                else:
                    token.append(c)
            elif in_single:
                if c == 92 and nxt == 39:
                    i += 1
                    token.append(39)
                elif c == 39:
                    if nxt and nxt not in _SPACE:
                        return None
                    i += 1
                    break
                elif not c:
                    return None
                else:
                    token.append(c)
            elif not c or c in _TOKEN_END:
                if c:
                    i += 1
                break
            elif c == 34:
                in_double = True
            elif c == 39:
                in_single = True
            else:
                token.append(c)
            i += 1
        out.append(bytes(token))
