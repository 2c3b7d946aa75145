"""The function libraries of Redis 7.0's FUNCTION commands: replicated state (functions.py owns the commands).

Pure data with Redis' two lookups (functions.c's functionsLibCtx): libraries by name (case-sensitive,
as Redis' librariesDictType) and functions by name across all libraries (case-insensitive, as
functionDictType: FCALL myfunc finds MyFunc, and two libraries may not register names differing by
case only). Kept by Databases next to the script cache, shared by all the databases, and part of the
snapshot (snapshot.py).

Iteration is in name order, not Redis' hash order (which varies per process): FUNCTION LIST, DUMP
and the snapshot are then the same bytes on every replica.
"""

from __future__ import annotations

# scripts_flags_def (script.c): name and bit, in the order FUNCTION LIST shows them
FLAGS = (
    ("no-writes", 1),
    ("allow-oom", 2),
    ("allow-stale", 4),
    ("no-cluster", 8),
    ("allow-cross-slot-keys", 32),
)
NO_WRITES = 1


class Function:
    __slots__ = ("description", "flags", "library", "name")

    def __init__(self, name: bytes, description: bytes | None, flags: int, library: Library) -> None:
        self.name, self.description, self.flags, self.library = name, description, flags, library


class Library:
    """One library: its whole code (shebang line included, as FUNCTION LIST WITHCODE and DUMP give
    it back) and its functions in registration order."""

    __slots__ = ("code", "functions", "name")

    def __init__(self, name: bytes, code: bytes, registered: list[tuple[bytes, bytes | None, int]]) -> None:
        self.name, self.code = name, code
        self.functions = [Function(fname, desc, flags, self) for fname, desc, flags in registered]


class Libraries:
    __slots__ = ("_functions", "libraries")

    def __init__(self) -> None:
        self.libraries: dict[bytes, Library] = {}
        self._functions: dict[bytes, Function] = {}  # lower-cased name -> function

    def __len__(self) -> int:
        return len(self.libraries)

    def function(self, name: bytes) -> Function | None:
        return self._functions.get(name.lower())

    def clashing(self, library: Library) -> Function | None:
        """The first function of `library` whose name another library already registered."""
        for fn in library.functions:
            if fn.name.lower() in self._functions:
                return fn
        return None

    def link(self, library: Library) -> None:
        """Add `library` (the caller checked that neither it nor its functions' names are taken by
        another library). Within one library names are case-sensitive (Redis' libraryFunctionDictType):
        of two differing by case only, FCALL finds the first registered (Redis: whichever its hash
        order links first; deleting such a library then crashes redis-server 7.0, not this)."""
        self.libraries[library.name] = library
        for fn in library.functions:
            self._functions.setdefault(fn.name.lower(), fn)

    def unlink(self, library: Library) -> None:
        del self.libraries[library.name]
        for fn in library.functions:
            if self._functions.get(fn.name.lower()) is fn:
                del self._functions[fn.name.lower()]

    def clear(self) -> None:
        self.libraries.clear()
        self._functions.clear()

    def in_order(self) -> list[Library]:
        return [self.libraries[name] for name in sorted(self.libraries)]

    def function_count(self) -> int:
        """FUNCTION STATS' functions_count: every library's functions (Redis' n_functions)."""
        return sum(len(lib.functions) for lib in self.libraries.values())
