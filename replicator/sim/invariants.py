"""Safety properties, checked incrementally as the simulation runs.

Each check is tagged with the Raft paper's section and the TLA+ name where one
exists (openraft's tests-turmoil does the same). They are written against the
protocol-neutral view every engine gives (entries carry an epoch, Ready
carries role changes), so ZAB is held to the same properties.

- ElectionSafety (§5.2): at most one node ever leads a given term/epoch.
- LogMatching (§5.3): if two durable logs hold an entry with the same index
  and epoch, they are identical up to it. Checked through a registry: every
  (index, epoch) ever written durably must always carry the same bytes and
  sit on the same predecessor epoch; by induction down the log that is log
  matching, and it needs no pairwise scan.
- LeaderCompleteness (§5.4): an entry committed in term T is in the log of
  every leader of a term > T. The simulator does not see in which term an
  entry was committed, only when a node first applies it; that node's term
  then is an upper bound B >= T, so the check covers leaders of terms > B
  (when a node becomes leader, and when an entry is first seen committed).
  A deposed leader of a lower term may well lack it.
- StateMachineSafety (§5.4.3): no two nodes apply different entries at one
  index; two replicas at one applied index hold byte-identical machine state.
- CommittedDurable (thesis §3.8, §11.7): when an entry is first applied
  anywhere, a majority of the voters hold it durably (or a snapshot past it).
  A node that acks before its fsync breaks this. A disk lost after the ack
  (the simulator's wipe_disk) still counts for what it held. With membership
  changes, "the voters" are those of a configuration that may have counted
  it: the one in force at its index, or one appended after it (a leader counts
  with its newest); only those voters count, so a removed node never does.
- NoCommittedOverwrite: a durable write never drops or replaces a committed
  entry (a follower that truncates on a stale, non-conflicting append does).
- Monotonic: on a live node, term/epoch, commit and applied never go back;
  applied <= commit <= last index.
- PrimaryOrder (ZAB's primary order, Raft's terms along the log): along the
  committed log, epochs never decrease and, where entries carry a zxid, zxids
  strictly increase. So every committed proposal of an earlier epoch is
  delivered before any proposal of a later one, and delivery is in zxid order.

A broken property raises `Violation`; the cluster turns it into a failure
report with the seed and the trace tail.
"""

from __future__ import annotations

from replicator.protocol.log_store import Compacted, Unavailable
from replicator.protocol.ready import Ready
from replicator.types import Entry, EntryKind, Role, Snapshot, Status, config_entry_membership


class Violation(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _store_term(store, index: int) -> int | None:
    """Epoch of the durable entry at index, or None if the store has none there."""
    try:
        return store.term(index)
    except (Compacted, Unavailable):
        return None


def _describe_write(rd: Ready) -> str:
    parts = []
    if rd.snapshot is not None:
        parts.append(f"snapshot at {rd.snapshot.meta.index}")
    if rd.entries:
        parts.append(f"entries {rd.entries[0].index}..{rd.entries[-1].index}")
    return ", ".join(parts) or "nothing"


class Invariants:
    def __init__(self, voters: tuple[int, ...]) -> None:
        self.voters = voters
        self.majority = len(voters) // 2 + 1
        # Every configuration some node appended: (index, epoch, voters), in the order seen.
        self.configs: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, voters)]
        self.leaders: dict[int, int] = {}  # term -> node that led it
        self.entry_at: dict[tuple[int, int], tuple[bytes, int]] = {}  # (index, epoch) -> (data, prev epoch)
        self.committed: dict[int, tuple[int, bytes, int]] = {}  # index -> (epoch, data, commit term bound)
        self.commit_max = 0
        self.zxid_at: dict[int, int] = {}  # committed index -> zxid (0 when the protocol has none)
        self.state_at: dict[int, bytes] = {}  # applied index -> machine state bytes, first seen
        self._mono: dict[int, tuple[int, int, int, int]] = {}  # node -> (incarnation, epoch, commit, applied)
        self.checks = 0

    # --- ElectionSafety + LeaderCompleteness ------------------------------------
    def on_ready(self, node: int, rd: Ready, store) -> None:
        """A Ready was taken (before anything of it is durable)."""
        self.checks += 1
        for e in rd.entries:
            if e.kind == EntryKind.CONFIG:
                membership = config_entry_membership(e.data)
                if membership is not None:
                    self.configs.append((e.index, e.epoch, membership.voters))
        ss = rd.soft_state
        if ss is None or ss.role != Role.LEADER:
            return
        other = self.leaders.setdefault(ss.epoch, node)
        if other != node:
            raise Violation("ElectionSafety", f"n{node} and n{other} both lead term {ss.epoch}")
        self._check_leader_log(node, ss.epoch, store, rd.entries)

    def _check_leader_log(self, node: int, term: int, store, extra: tuple[Entry, ...] = ()) -> None:
        overlay = {e.index: e.epoch for e in extra}
        first_extra = extra[0].index if extra else None
        snap = store.snapshot_meta()
        snap_index = snap.index if snap is not None else 0
        for index in range(snap_index + 1, self.commit_max + 1):
            want = self.committed.get(index)
            if want is None or want[2] >= term:
                continue  # committed in a term we cannot prove is below this leader's
            if first_extra is not None and index >= first_extra:
                have = overlay.get(index)
            else:
                have = _store_term(store, index)
            if have != want[0]:
                raise Violation(
                    "LeaderCompleteness",
                    f"n{node} leads term {term} but its log has epoch {have} at index {index}, "
                    f"where epoch {want[0]} was committed",
                )

    # --- LogMatching + NoCommittedOverwrite --------------------------------------
    def before_persist(self, rd: Ready, store) -> dict[int, int]:
        """Committed entries the coming write may replace or drop: {index: epoch}.

        Only entries this store already holds count: a stale follower may well
        write an uncommitted entry at an index that is committed elsewhere; what
        it must never do is lose a committed entry it had (it may have acked it).
        """
        if not self.committed:
            return {}
        old_last = store.last_index()
        if rd.snapshot is not None:
            lo = rd.snapshot.meta.index + 1  # a snapshot replaces the whole log
        elif rd.entries:
            lo = rd.entries[0].index
        else:
            return {}
        held = {}
        for index in range(max(lo, store.first_index()), min(old_last, self.commit_max) + 1):
            want = self.committed.get(index)
            if want is not None and _store_term(store, index) == want[0]:
                held[index] = want[0]
        return held

    def on_persisted(self, node: int, rd: Ready, store, held: dict[int, int]) -> None:
        """After LogStore.save(rd): the durable log changed by rd.entries / rd.snapshot."""
        self.checks += 1
        if rd.snapshot is not None:
            self._check_snapshot(node, rd.snapshot, "installed")
        for index, epoch in held.items():
            have = _store_term(store, index)
            if have != epoch:
                what = "dropped" if have is None else f"replaced it with epoch {have}"
                raise Violation(
                    "NoCommittedOverwrite",
                    f"n{node} held committed ({index}, epoch {epoch}) durably and its write "
                    f"({_describe_write(rd)}) {what}",
                )
        if not rd.entries:
            return
        first = rd.entries[0].index
        prev = _store_term(store, first - 1)
        for e in rd.entries:
            key = (e.index, e.epoch)
            seen = self.entry_at.get(key)
            if seen is None:
                self.entry_at[key] = (e.data, prev)  # type: ignore[assignment]
            elif seen[0] != e.data or seen[1] != prev:
                raise Violation(
                    "LogMatching",
                    f"n{node} durably holds ({e.index}, epoch {e.epoch}) with "
                    f"{'different data' if seen[0] != e.data else f'predecessor epoch {prev}'}"
                    f" than another log had ({'data' if seen[0] != e.data else f'predecessor epoch {seen[1]}'})",
                )
            prev = e.epoch

    def _check_snapshot(self, node: int, snap: Snapshot, how: str) -> None:
        meta = snap.meta
        if meta.index > self.commit_max:
            # A snapshot covers applied state only; applied implies committed. The
            # sender's apply was observed first, so commit_max already covers it.
            raise Violation(
                "SnapshotUncommitted", f"n{node} {how} a snapshot at {meta.index} > highest committed {self.commit_max}"
            )
        want = self.committed.get(meta.index)
        if want is not None and want[0] != meta.epoch:
            raise Violation(
                "SnapshotMismatch",
                f"n{node} {how} a snapshot at ({meta.index}, epoch {meta.epoch}) but epoch {want[0]} was committed there",
            )

    def on_snapshot_taken(self, node: int, snap: Snapshot) -> None:
        self._check_snapshot(node, snap, "took")

    # --- StateMachineSafety + CommittedDurable -------------------------------------
    def on_applied(
        self, node: int, term: int, entries: list[Entry], stores: dict, leaders_now: dict, lost: dict | None = None
    ) -> None:
        """Entries `node` applied (in order), after the Ready that carried them;
        `term` is the node's term/epoch when it learned they committed; `lost`:
        node -> the stores it lost with its disk."""
        self.checks += 1
        for e in entries:
            want = self.committed.get(e.index)
            if want is not None:
                if want[0] != e.epoch or want[1] != e.data:
                    raise Violation(
                        "StateMachineSafety",
                        f"n{node} applied ({e.index}, epoch {e.epoch}) but ({e.index}, epoch {want[0]}) "
                        f"was applied before{'' if want[0] != e.epoch else ' with other data'}",
                    )
                continue
            self._check_primary_order(node, e)
            self.committed[e.index] = (e.epoch, e.data, term)
            self.zxid_at[e.index] = e.zxid
            if e.index > self.commit_max:
                self.commit_max = e.index
            holding = set()
            for holder, store in stores.items():
                for copy in (store, *(lost or {}).get(holder, ())):
                    snap = copy.snapshot_meta()
                    if (snap is not None and snap.index >= e.index) or _store_term(copy, e.index) == e.epoch:
                        holding.add(holder)
                        break
            candidates = self._configs_that_may_count(e)
            if not any(len(holding & set(voters)) >= len(voters) // 2 + 1 for voters in candidates):
                raise Violation(
                    "CommittedDurable",
                    f"({e.index}, epoch {e.epoch}) was applied by n{node} but only nodes {sorted(holding)} hold it "
                    f"durably: no majority of the voters of any configuration that may have counted it "
                    f"({', '.join(str(list(v)) for v in candidates)})",
                )
            # Leaders of later terms must already hold it (LeaderCompleteness).
            for lnode, (lterm, lstore, extra) in leaders_now.items():
                if lterm > term:
                    overlay = {x.index: x.epoch for x in extra}
                    have = overlay.get(e.index)
                    if have is None:
                        snap = lstore.snapshot_meta()
                        if snap is not None and snap.index >= e.index:
                            continue
                        have = _store_term(lstore, e.index)
                    if have != e.epoch:
                        raise Violation(
                            "LeaderCompleteness",
                            f"({e.index}, epoch {e.epoch}) committed while n{lnode} leads term {lterm} "
                            f"without it (has epoch {have})",
                        )

    def _configs_that_may_count(self, e: Entry) -> list[tuple[int, ...]]:
        """The voters of the configuration in force at `e` - the newest on the committed
        path at or below it (a configuration some deposed leader appended and lost does
        not count) - and of every configuration seen after it."""

        def on_path(index: int, epoch: int) -> bool:
            if index == 0:
                return True
            if index == e.index:
                return epoch == e.epoch
            known = self.committed.get(index)
            return known is None or known[0] == epoch

        below = [c for c in self.configs if c[0] <= e.index and on_path(c[0], c[1])]
        newest = max(c[0] for c in below)
        return [voters for i, _, voters in below if i == newest] + [v for i, _, v in self.configs if i > e.index]

    def _check_primary_order(self, node: int, e: Entry) -> None:
        here = (e.index, e.epoch, e.zxid)
        for before, after in ((self._committed_at(e.index - 1), here), (here, self._committed_at(e.index + 1))):
            if before is None or after is None:
                continue
            if after[1] < before[1] or (before[2] and after[2] and after[2] <= before[2]):
                raise Violation(
                    "PrimaryOrder",
                    f"n{node} applied (index, epoch, zxid) {after[0]}, {after[1]}, {after[2]:#x} "
                    f"right after {before[0]}, {before[1]}, {before[2]:#x}",
                )

    def _committed_at(self, index: int) -> tuple[int, int, int] | None:
        known = self.committed.get(index)
        return None if known is None else (index, known[0], self.zxid_at.get(index, 0))

    def on_state(self, node: int, applied: int, state: bytes) -> None:
        """Replicas at the same applied index must hold identical machine state."""
        seen = self.state_at.setdefault(applied, state)
        if seen != state:
            raise Violation(
                "StateMachineSafety",
                f"n{node}'s machine state at applied index {applied} differs from another replica's",
            )

    # --- Monotonic -----------------------------------------------------------------
    def on_status(self, node: int, incarnation: int, st: Status) -> None:
        self.checks += 1
        if not (st.applied <= st.commit):
            raise Violation("Monotonic", f"n{node} applied {st.applied} > commit {st.commit}")
        if st.commit > st.last_index:
            raise Violation("Monotonic", f"n{node} commit {st.commit} > last index {st.last_index}")
        prev = self._mono.get(node)
        now = (incarnation, st.epoch, st.commit, st.applied)
        if prev is not None and prev[0] == incarnation:
            for name, a, b in (("epoch", prev[1], now[1]), ("commit", prev[2], now[2]), ("applied", prev[3], now[3])):
                if b < a:
                    raise Violation("Monotonic", f"n{node}'s {name} went back from {a} to {b}")
        self._mono[node] = now
