"""Redis' help notation (an entry's `syntax`) -> COMMAND DOCS' argument maps.

UPPER            pure token           UPPER name     token with a value
name             value (type guessed) [ ... ]        optional
a | b            one of               x [x ...]      multiple
"""

from __future__ import annotations

import re

from frontends.resp.replies import RespSet

_SYNTAX_TOKEN = re.compile(r"\[|\]|\||\.\.\.|[^\s\[\]|]+")
_INTEGER_NAMES = {
    "seconds",
    "milliseconds",
    "increment",
    "decrement",
    "count",
    "numkeys",
    "index",
    "offset",
    "timeout",
    "db",
    "protover",
    "start",
    "end",
    "client-id",
    "port",
}


def _is_token(word: str) -> bool:
    return any(c.isalpha() for c in word) and word == word.upper()


def _value_type(name: str) -> str:
    if name == "key" or name.endswith("-key"):
        return "key"
    if name.startswith("unix-time"):
        return "unix-time"
    if name in _INTEGER_NAMES:
        return "integer"
    if name == "pattern":
        return "pattern"
    return "string"


def _parse_syntax(tokens: list[str], i: int) -> tuple[list[list], int]:
    """Alternatives (each a list of nodes) up to a closing ']' or the end."""
    alternatives: list[list] = [[]]
    while i < len(tokens):
        tok = tokens[i]
        if tok == "]":
            return alternatives, i + 1
        if tok == "[":
            inner, i = _parse_syntax(tokens, i + 1)
            alternatives[-1].append(("opt", inner))
            continue
        if tok == "|":
            alternatives.append([])
        elif tok == "...":
            alternatives[-1].append(("more",))
        else:
            alternatives[-1].append(("word", tok))
        i += 1
    return alternatives, i


def _words(nodes: list) -> list[str]:
    return [node[1] for node in nodes if node[0] == "word"]


def _build(nodes: list) -> list[dict]:
    out: list[tuple[list[str], dict]] = []  # (source words, argument)
    k = 0
    while k < len(nodes):
        node = nodes[k]
        if node[0] == "word":
            word = node[1]
            following = nodes[k + 1] if k + 1 < len(nodes) else None
            if _is_token(word) and following and following[0] == "word" and not _is_token(following[1]):
                arg = {
                    b"name": following[1].encode(),
                    b"type": _value_type(following[1]).encode(),
                    b"token": word.encode(),
                }
                out.append(([word, following[1]], arg))
                k += 2
                continue
            if _is_token(word):
                arg = {b"name": word.lower().encode(), b"type": b"pure-token", b"token": word.encode()}
            else:
                arg = {b"name": word.encode(), b"type": _value_type(word).encode()}
            out.append(([word], arg))
        elif node[0] == "opt":
            alternatives = node[1]
            inner = alternatives[0]
            if len(alternatives) == 1 and inner and inner[-1] == ("more",):
                repeated = _words(inner)
                taken: list[str] = []
                count = 0
                for src, _ in reversed(out):
                    if len(taken) >= len(repeated):
                        break
                    taken[:0] = src
                    count += 1
                if repeated and taken == repeated:  # "x [x ...]": x repeats
                    group = [arg for _, arg in out[len(out) - count :]]
                    del out[len(out) - count :]
                    arg = (
                        dict(group[0])
                        if len(group) == 1
                        else {b"name": b"data", b"type": b"block", b"arguments": group}
                    )
                    arg[b"flags"] = RespSet([*arg.get(b"flags", ()), "multiple"])
                    out.append((repeated, arg))
                    k += 1
                    continue
            if len(alternatives) > 1:
                choices = [_single(alt) for alt in alternatives]
                name = "-".join(c[b"name"].decode() for c in choices)[:40]
                arg = {b"name": name.encode(), b"type": b"oneof", b"arguments": choices}
            else:
                arg = _single(inner)
            arg[b"flags"] = RespSet(["optional", *arg.get(b"flags", ())])
            out.append(([], arg))
        k += 1
    return [arg for _, arg in out]


def _single(nodes: list) -> dict:
    args = _build(nodes)
    if len(args) == 1:
        return dict(args[0])
    return {b"name": b"-".join(a[b"name"] for a in args)[:40], b"type": b"block", b"arguments": args}


def syntax_arguments(syntax: str) -> list[dict]:
    if not syntax.strip():
        return []
    alternatives, _ = _parse_syntax(_SYNTAX_TOKEN.findall(syntax), 0)
    if len(alternatives) > 1:
        return [{b"name": b"arg", b"type": b"oneof", b"arguments": [_single(alt) for alt in alternatives]}]
    return _build(alternatives[0])
