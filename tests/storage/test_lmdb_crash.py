"""SIGKILL a process in the middle of its writes; everything it acknowledged survives.

The child (`python -m tests.storage.support DIR SEED`) applies the seeded
workload to an LmdbStore and prints the count of acknowledged writes after
each one. The parent kills it at a random moment, replays the same workload on
a MemoryStore, and requires the reopened store to equal the model after
exactly n acknowledged writes or n + 1 (the write in flight may have landed).

Seed: CRASH_SEED=<int> replays a run; otherwise one is drawn and printed.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from replicator.storage.memory_store import MemoryStore
from tests.storage.support import (
    apply,
    describe_difference,
    make_ready,
    open_lmdb,
    state_of,
    workload,
)

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 4


def _read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "child printed nothing"
    return proc.stdout.readline()


def _run_and_kill(path: Path, seed: int, rng: random.Random, *, wait_first_ack: bool) -> int:
    """Start the child, SIGKILL it at a random moment; return its acknowledged count."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.support", str(path), str(seed)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        acked = b""
        if wait_first_ack:
            acked = _read_line(proc, 30)
            time.sleep(rng.uniform(0.0, 0.6))
        else:
            time.sleep(rng.uniform(0.0, 0.3))  # may land inside the very first open
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"child died on its own: {err.decode()[-2000:]}"
    lines = (acked + out).split()
    return int(lines[-1]) if lines else 0


def _check_recovered(path: Path, seed: int, acked: int) -> int:
    """Reopen the store; return which model state (acked or acked + 1) it holds."""
    model = MemoryStore()
    ops = workload(seed)
    for _ in range(acked):
        apply(model, next(ops))
    store = open_lmdb(path)
    try:
        actual = state_of(store)
        expected = state_of(model)
        if actual == expected:
            landed = acked
        else:
            apply(model, next(ops))
            expected_next = state_of(model)
            assert actual == expected_next, (
                f"seed {seed}: store after SIGKILL is neither the state after {acked} acknowledged "
                f"writes ({describe_difference(expected, actual)}) nor after {acked + 1} "
                f"({describe_difference(expected_next, actual)})"
            )
            landed = acked + 1
        # Contiguity, checked directly as well: every index has its entry.
        first, last = store.first_index(), store.last_index()
        assert [e.index for e in store.entries(first, last + 1)] == list(range(first, last + 1))
        # The store takes writes again after the crash.
        store.save(make_ready((), b"after-crash"))
        assert store.hard_state() == b"after-crash"
    finally:
        store.close()
    return landed


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    base_seed = int(os.environ.get("CRASH_SEED", random.SystemRandom().randrange(2**32)))
    print(f"\ncrash test seed: CRASH_SEED={base_seed}")
    rng = random.Random(base_seed)
    results = []
    for round_ in range(ROUNDS):
        seed = rng.randrange(2**32)
        path = tmp_path / f"round{round_}"
        wait_first_ack = round_ != 0
        acked = _run_and_kill(path, seed, rng, wait_first_ack=wait_first_ack)
        landed = _check_recovered(path, seed, acked)
        results.append((seed, acked, "in-flight write landed" if landed > acked else "exact"))
    for seed, acked, how in results:
        print(f"  workload seed {seed}: {acked} acknowledged writes recovered ({how})")
    assert sum(acked for _, acked, _ in results) > 0, "no round got far enough to test anything"
