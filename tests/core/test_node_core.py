"""The node core (replicator/core/node.py) driven by hand: real engines, in-memory stores,
messages carried between cores by the test (core_harness.py), so each case says exactly
what arrives when. The transcripts (test_core_transcripts.py) tell the same stories as scripts."""

from __future__ import annotations

import pytest

from replicator.core.messages import ForwardReply, ForwardRequest
from replicator.core.requests import Moved, OutcomeUnknown, ReadConsistency
from replicator.sim import registers as reg
from replicator.types import Role
from tests.core.core_harness import PROTOCOLS, Answers, Cores


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_duplicated_forward_request_is_proposed_once(protocol):
    """Found by the simulator's clients (a network that duplicates): a copy of a
    ForwardRequest made the leader propose its writes again, applying a put twice."""
    cores = Cores(protocol)
    leader = cores.leader()
    request = ForwardRequest(
        cores.follower().node_id, leader.node_id, 77, ("registers",), (reg.encode_put(b"k", b"v"),)
    )
    applied = leader.host.applied
    leader.receive(request)
    leader.receive(request)
    replies: list = []
    cores.settle(20, drop=lambda msg: isinstance(msg, ForwardReply) and not replies.append(msg))
    assert len(replies) == 1 and replies[0].req_id == 77 and not replies[0].errors[0]
    assert leader.host.applied - applied == 1  # one entry: the put
    assert leader.host.query("registers", reg.encode_get(b"k"), 0) == b"v"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_write_at_a_follower_is_forwarded_and_answered(protocol):
    cores = Cores(protocol)
    cores.leader()
    follower = cores.follower()
    answers = Answers(2)
    follower.submit_batch(
        [("registers", reg.encode_put(b"a", b"1")), ("registers", reg.encode_put(b"a", b"2"))], answers
    )
    cores.settle(30)
    assert answers.decided == 2 and answers.values[1] == b"1" and answers.indexes[1] > 0
    reads = Answers(1)
    follower.read_batch([("registers", reg.encode_get(b"a"))], ReadConsistency.SEQUENTIAL, reads, answers.indexes[1])
    cores.settle(30)
    assert reads.values == [b"2"]  # never older than what this connection has seen


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_redirect_mode_answers_moved_with_the_leader(protocol):
    cores = Cores(protocol, write_mode="redirect")
    leader = cores.leader()
    follower = cores.follower()
    answers = Answers(1)
    follower.submit_batch([("registers", reg.encode_put(b"a", b"1"))], answers)
    follower.step()
    (moved,) = answers.values
    assert isinstance(moved, Moved) and moved.leader == leader.node_id
    assert str(moved) == f"MOVED 0 127.0.0.1:{7000 + leader.node_id}"
    assert follower.pipeline_machines == frozenset()  # a read in a pipeline entry would be moved too


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_new_leader_fails_writes_forwarded_to_the_old_one_but_losing_sight_does_not(protocol):
    """Outcome unknown only when another leader is known: a follower that merely lost sight
    of its leader (leader None) keeps waiting for the old leader's answer, which may come."""
    cores = Cores(protocol)
    leader = cores.leader()
    follower = cores.follower()
    answers = Answers(1)
    follower.submit_batch([("registers", reg.encode_put(b"a", b"1"))], answers)
    follower.step()
    (forward,) = [m for m in cores.wire if isinstance(m, ForwardRequest)]
    cores.wire.clear()
    follower._on_leader_change(None)
    assert answers.decided == 0
    other = next(i for i in cores.ids if i not in (leader.node_id, follower.node_id))
    follower._on_leader_change(other)
    assert isinstance(answers.values[0], OutcomeUnknown)
    assert f"leader {forward.dst} changed before answering" in str(answers.values[0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pause_shorter_than_the_election_timeout_deposes_nobody(protocol):
    """A loaded machine's scheduling pause (a long fsync, a busy loop) of just under an election
    timeout, at any phase of the leader's clock and repeated, keeps it leader: the ticks that
    piled up are stepped together with (after) the followers' answers that waited meanwhile."""
    cores = Cores(protocol)
    leader = cores.leader()
    epoch = leader.host.epoch

    def turn(ticks: int) -> None:
        leader.tick(ticks)
        for core in cores.cores.values():  # the followers' clocks stand still: only the leader pauses
            core.step()
            while core.run_ready():
                pass
        cores.settle(1, tick=False)  # what was sent arrives (answers wait in the leader's inbox)

    for offset in range(30):
        for _ in range(offset % 10):
            turn(1)
        turn(9)  # a pause of 9 ticks; the election timeout is 10
        assert leader.host.role == Role.LEADER and leader.host.epoch == epoch, f"deposed at offset {offset}"
