"""The simulated network: seeded delay, loss, duplication, reordering, partitions.

The network does not own time; it tells the cluster *when* each copy of a
message should arrive (or that it is lost), and the cluster puts a delivery
event on its heap. Every random choice comes from the cluster's one
`random.Random`, in the order messages are sent, so a seed replays exactly.

Faults (after TigerBeetle's packet_simulator):
- delay: uniform in [delay_ms_min, delay_ms_max] per copy; this alone
  reorders messages between the same two nodes, as UDP would;
- reorder: with probability `reorder`, a copy is held back by up to
  `reorder_ms_max` more;
- stragglers: with probability `straggle`, a copy arrives very late (up to
  `straggle_ms_max`): an AppendEntries or vote from a term long gone;
- loss: with probability `loss`, a copy is dropped;
- duplication: with probability `duplicate`, a second copy is sent (with its
  own delay);
- partitions: a set of blocked directed links (src, dst). A symmetric split
  blocks both directions between two groups; a one-way fault blocks one
  direction only. A message is dropped if its link is blocked when it is sent
  *or* when it would be delivered (a partition also cuts what is in flight).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class NetworkConfig:
    delay_ms_min: int = 1
    delay_ms_max: int = 8
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_ms_max: int = 60
    straggle: float = 0.0
    straggle_ms_max: int = 1500


@dataclass(slots=True)
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    blocked: int = 0


@dataclass
class SimNetwork:
    rng: random.Random
    config: NetworkConfig = field(default_factory=NetworkConfig)
    blocked: set[tuple[int, int]] = field(default_factory=set)
    stats: NetworkStats = field(default_factory=NetworkStats)

    def route(self, src: int, dst: int) -> list[int]:
        """Delays (ms) of the copies of one message from src to dst; [] if it is lost."""
        self.stats.sent += 1
        if (src, dst) in self.blocked:
            self.stats.blocked += 1
            return []
        cfg = self.config
        rng = self.rng
        copies = 1
        if cfg.duplicate and rng.random() < cfg.duplicate:
            copies = 2
            self.stats.duplicated += 1
        out = []
        for _ in range(copies):
            if cfg.loss and rng.random() < cfg.loss:
                self.stats.lost += 1
                continue
            delay = rng.randint(cfg.delay_ms_min, cfg.delay_ms_max)
            if cfg.reorder and rng.random() < cfg.reorder:
                delay += rng.randint(1, cfg.reorder_ms_max)
            if cfg.straggle and rng.random() < cfg.straggle:
                delay += rng.randint(cfg.reorder_ms_max, cfg.straggle_ms_max)
            out.append(delay)
        return out

    def deliverable(self, src: int, dst: int) -> bool:
        """Checked again at delivery time: a partition cuts messages in flight."""
        if (src, dst) in self.blocked:
            self.stats.blocked += 1
            return False
        self.stats.delivered += 1
        return True

    # --- partitions -------------------------------------------------------
    def partition(self, groups: list[list[int]]) -> None:
        """Symmetric split: nodes in different groups cannot talk either way."""
        for i, a in enumerate(groups):
            for b in groups[i + 1 :]:
                for x in a:
                    for y in b:
                        self.blocked.add((x, y))
                        self.blocked.add((y, x))

    def block(self, src: int, dst: int) -> None:
        """One-way fault: src's messages no longer reach dst (dst -> src still works)."""
        self.blocked.add((src, dst))

    def isolate(self, node: int, nodes: list[int]) -> None:
        self.partition([[node], [n for n in nodes if n != node]])

    def heal(self) -> None:
        self.blocked.clear()

    def describe(self) -> str:
        if not self.blocked:
            return "healed"
        return "blocked " + " ".join(f"{a}->{b}" for a, b in sorted(self.blocked))
