"""Redis' client-output-buffer-limit: its classes, defaults, CONFIG syntax and units.

The server (server.py) enforces the "normal" class, which every client here
belongs to; CONFIG GET/SET show and take all three classes, as Redis does.
"""

from __future__ import annotations

# Redis' client-output-buffer-limit classes with their defaults, except "normal": Redis
# lets a normal client's replies grow without bound (0 0 0); here a client whose unsent
# replies pass 256 MiB is closed (frontends/resp/server.py explains what "unsent" is).
OUTPUT_BUFFER_LIMITS = {
    "normal": (256 << 20, 0, 0),
    "replica": (256 << 20, 64 << 20, 60),
    "pubsub": (32 << 20, 8 << 20, 60),
}


def format_output_buffer_limits(limits: dict[str, tuple[int, int, int]]) -> str:
    """CONFIG GET client-output-buffer-limit, as Redis shows it (bytes, replica as slave)."""
    return " ".join(
        f"{'slave' if name == 'replica' else name} {hard} {soft} {seconds}"
        for name, (hard, soft, seconds) in limits.items()
    )


def parse_output_buffer_limits(value: bytes) -> dict[str, tuple[int, int, int]] | str:
    """CONFIG SET client-output-buffer-limit "<class> <hard> <soft> <soft seconds> ...":
    the changed classes, or Redis' error text. Sizes take Redis' units (k, kb, m, mb, g, gb)."""
    words = value.decode("latin-1").split()
    if not words or len(words) % 4:
        return "Wrong number of arguments in buffer limit configuration."
    changed = {}
    for i in range(0, len(words), 4):
        name = words[i].lower()
        name = "replica" if name == "slave" else name
        if name not in OUTPUT_BUFFER_LIMITS:
            return "Invalid client class specified in buffer limit configuration."
        hard, soft = _memory_bytes(words[i + 1]), _memory_bytes(words[i + 2])
        seconds = _memory_bytes(words[i + 3]) if words[i + 3].isdigit() else None  # seconds: no units
        if hard is None or soft is None or seconds is None:
            return "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        changed[name] = (hard, soft, seconds)
    return changed


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


def _memory_bytes(word: str) -> int | None:
    """Redis' memtoull: digits and an optional unit; None if not that, or beyond int64."""
    digits = word.rstrip("bBkKmMgG")
    unit = _UNITS.get(word[len(digits) :].lower())
    if unit is None or not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        return None
    value = int(digits) * unit
    return value if value < 1 << 63 else None
