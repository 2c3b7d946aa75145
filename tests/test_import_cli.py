"""`replicator import`'s retry rule on its own: what the cluster says to retry (TRYAGAIN,
CLUSTERDOWN) is sent again until --timeout; any other refusal stops the import at once.
(End to end, with a real redis-server and cluster: tests/e2e/test_import.py.)"""

from __future__ import annotations

import hiredis
import pytest

from replicator.import_cli import ImportFailed, _restore_batch

BATCH = [(b"a", 0, b"pa"), (b"b", 5000, b"pb"), (b"c", 0, b"pc")]


class FakeCluster:
    """Answers each pipeline from a script: one list of replies per round."""

    def __init__(self, rounds: list[list]) -> None:
        self.rounds = rounds
        self.sent: list[list[tuple]] = []

    def pipeline(self, commands: list[tuple]) -> list:
        self.sent.append(commands)
        replies = self.rounds[min(len(self.sent) - 1, len(self.rounds) - 1)]
        assert len(replies) == len(commands)
        return replies


def test_retries_what_the_cluster_says_to_retry():
    tryagain = hiredis.ReplyError("TRYAGAIN outcome unknown: leadership lost")
    down = hiredis.ReplyError("CLUSTERDOWN no leader elected; try again")
    cluster = FakeCluster([["OK", tryagain, down], [down, "OK"], ["OK"]])
    assert _restore_batch(cluster, BATCH, timeout_s=10) == 3
    assert [[c[1] for c in round_] for round_ in cluster.sent] == [[b"a", b"b", b"c"], [b"b", b"c"], [b"b"]]
    assert cluster.sent[0][1] == ("RESTORE", b"b", "5000", b"pb", "REPLACE")


def test_other_errors_stop_at_once():
    cluster = FakeCluster([["OK", hiredis.ReplyError("ERR Bad data format"), "OK"]])
    with pytest.raises(ImportFailed, match="Bad data format"):
        _restore_batch(cluster, BATCH, timeout_s=10)
    assert len(cluster.sent) == 1


def test_gives_up_after_the_timeout():
    down = hiredis.ReplyError("CLUSTERDOWN no leader elected; try again")
    cluster = FakeCluster([[down, down, down]] + [[down, down, down]] * 100)
    with pytest.raises(ImportFailed, match="CLUSTERDOWN"):
        _restore_batch(cluster, BATCH, timeout_s=0.2)
