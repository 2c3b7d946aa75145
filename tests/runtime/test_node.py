"""Three Nodes in one trio run, over real loopback TCP and real LMDB directories.

These drive the runtime through the NodeAPI a frontend uses (submit / read),
without RESP in between.
"""

from __future__ import annotations

import trio

from replicator.config import Config, Member, generate_secret
from replicator.runtime.api import OutcomeUnknown, ReadConsistency, TimedOut
from replicator.runtime.driver import Node
from replicator.transactions import encode_transaction, encode_watch_read
from replicator.types import Role
from statemachines import TRANSACTIONS, ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from tests.e2e.harness import free_ports


class InProcessCluster:
    def __init__(self, tmp_path, n: int = 3, **settings) -> None:
        ports = free_ports(2 * n)
        members = tuple(Member(i + 1, ("127.0.0.1", ports[n + i]), ("127.0.0.1", ports[i])) for i in range(n))
        base = dict(tick_ms=10, election_ticks=10, request_timeout_ms=5000, cluster_secret=generate_secret())
        base.update(settings)
        self.configs = {
            m.id: Config(
                node_id=m.id, members=members, data_dir=tmp_path / f"n{m.id}", resp=m.resp, peer=m.peer, **base
            )
            for m in members
        }
        self.nodes: dict[int, Node] = {}
        self.scopes: dict[int, tuple[trio.CancelScope, trio.Event]] = {}

    async def start(self, nursery: trio.Nursery, node_id: int, machines=(KVMachine,)) -> None:
        node = Node(self.configs[node_id], {m.name: m() for m in machines})
        scope, exited = trio.CancelScope(), trio.Event()

        async def run(task_status=trio.TASK_STATUS_IGNORED):
            try:
                with scope:
                    await node.run(task_status=task_status)
            finally:
                exited.set()  # its store is closed: the same directory may be opened again

        await nursery.start(run)
        self.nodes[node_id], self.scopes[node_id] = node, (scope, exited)

    async def stop(self, node_id: int) -> None:
        scope, exited = self.scopes.pop(node_id)
        scope.cancel()
        del self.nodes[node_id]
        await exited.wait()

    async def start_all(self, nursery: trio.Nursery, machines=(KVMachine,)) -> tuple[Node, Node]:
        """Every node running `machines`; once they agree on a leader: (leader, a follower)."""
        for node_id in self.configs:
            await self.start(nursery, node_id, machines)
        leader = await self.leader()
        return leader, next(n for n in self.nodes.values() if n is not leader)

    async def leader(self) -> Node:
        with trio.fail_after(10):
            while True:
                leaders = [n for n in self.nodes.values() if n.role == Role.LEADER]
                if len(leaders) == 1 and all(n.host.leader == leaders[0].node_id for n in self.nodes.values()):
                    return leaders[0]
                await trio.sleep(0.01)


def cmd(*args: str) -> bytes:
    return encode_args(a.encode() for a in args)


async def test_forwarded_writes_and_linearizable_reads(tmp_path):
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        for node_id in (1, 2, 3):
            await cluster.start(nursery, node_id)
        leader = await cluster.leader()
        follower = next(n for n in cluster.nodes.values() if n is not leader)
        waiters = [follower.submit("kv", cmd("INCR", "c")) for _ in range(100)]
        assert sorted([await w.wait_one() for w in waiters]) == list(range(1, 101))
        for node in cluster.nodes.values():
            got = await node.read("kv", cmd("GET", "c"), ReadConsistency.LINEARIZABLE).wait_one()
            assert got == b"100"
        nursery.cancel_scope.cancel()


async def test_a_write_whose_leader_loses_its_quorum_is_never_acknowledged(tmp_path):
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        for node_id in (1, 2, 3):
            await cluster.start(nursery, node_id)
        leader = await cluster.leader()
        await leader.submit("kv", cmd("SET", "before", "1")).wait_one()
        for node_id in [i for i in list(cluster.nodes) if i != leader.node_id]:
            await cluster.stop(node_id)
        waiter = leader.submit("kv", cmd("SET", "after", "1"))
        try:
            result = await waiter.wait_one()
        except (OutcomeUnknown, TimedOut) as exc:
            assert str(exc).startswith("TRYAGAIN")
        else:
            raise AssertionError(f"a write without a quorum was acknowledged: {result!r}")
        nursery.cancel_scope.cancel()


async def test_restart_recovers_state_from_lmdb(tmp_path):
    cluster = InProcessCluster(tmp_path, snapshot_entries=20, keep_entries=5)
    async with trio.open_nursery() as nursery:
        for node_id in (1, 2, 3):
            await cluster.start(nursery, node_id)
        leader = await cluster.leader()
        waiters = [leader.submit("kv", cmd("SET", f"k{i}", str(i))) for i in range(120)]
        for w in waiters:
            await w.wait_one()
        with trio.fail_after(30):  # snapshots are taken in the background: wait until each node stored one
            while not all(node.host.snapshot_index > 0 for node in cluster.nodes.values()):
                await trio.sleep(0.01)
        for node_id in list(cluster.nodes):
            await cluster.stop(node_id)
        for node_id in (1, 2, 3):
            await cluster.start(nursery, node_id)
        assert all(node.host.snapshot_index > 0 for node in cluster.nodes.values())  # restored from LMDB
        await cluster.leader()
        for node in cluster.nodes.values():
            read = node.read("kv", cmd("MGET", *(f"k{i}" for i in range(120))), ReadConsistency.LINEARIZABLE)
            assert await read.wait_one() == [str(i).encode() for i in range(120)]
        nursery.cancel_scope.cancel()


class ExplodingKV(KVMachine):
    """A buggy plugin: it raises in apply on one command (after changing nothing)."""

    def apply(self, index, command, ts_ms):
        if command == cmd("BOOM"):
            raise RuntimeError("kaboom")
        return super().apply(index, command, ts_ms)


async def test_a_machine_that_raises_in_apply_gets_an_error_reply_and_replicas_stay_equal(tmp_path):
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        for node_id in (1, 2, 3):
            await cluster.start(nursery, node_id, machines=(ExplodingKV,))
        leader = await cluster.leader()
        await leader.submit("kv", cmd("SET", "a", "1")).wait_one()
        result = await leader.submit("kv", cmd("BOOM")).wait_one()
        assert isinstance(result, ReplyError) and result.message.startswith("ERR state machine error: kaboom")
        assert await leader.submit("kv", cmd("INCR", "a")).wait_one() == 2  # the node goes on
        states = set()
        for node in cluster.nodes.values():
            got = await node.read("kv", cmd("GET", "a"), ReadConsistency.LINEARIZABLE).wait_one()
            states.add((got, b"".join(node.machines["kv"].snapshot())))
        assert len(states) == 1 and next(iter(states))[0] == b"2"
        nursery.cancel_scope.cancel()


async def test_a_transaction_from_a_follower_across_machines_and_replicas_stay_equal(tmp_path):
    """EXEC's entry goes the way of any write: forwarded to the leader, proposed, answered.
    A raising command gets its own error; every replica ends with the same states."""
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery, (ExplodingKV, LocksMachine))
        await follower.submit("kv", cmd("SET", "a", "1")).wait_one()
        read = follower.read(TRANSACTIONS, encode_watch_read("kv", [b"a"]), ReadConsistency.LINEARIZABLE)
        versions = await read.wait_one()
        watch = ("kv", b"a", versions[0], bool(versions[1]))
        steps = [
            ("kv", cmd("INCR", "a"), True),
            ("kv", cmd("BOOM"), True),
            ("locks", cmd("LOCK.ACQUIRE", "job", "w", "60000"), True),
            ("kv", cmd("GET", "a"), False),
            ("locks", cmd("LOCK.HOLDER", "job"), False),
        ]
        result = await follower.submit(TRANSACTIONS, encode_transaction(steps, [watch])).wait_one()
        token = result[2]
        assert result[0] == 2 and result[1] == ReplyError("ERR state machine error: kaboom") and result[3] == b"2"
        assert isinstance(token, int) and result[4][:2] == [b"w", token]
        assert (
            await follower.submit(TRANSACTIONS, encode_transaction(steps[:1], [watch])).wait_one() is None
        )  # a changed watch
        states = set()
        for node in cluster.nodes.values():
            got = await node.read("kv", cmd("GET", "a"), ReadConsistency.LINEARIZABLE).wait_one()
            states.add((got, *(b"".join(node.machines[name].snapshot()) for name in ("kv", "locks"))))
        assert len(states) == 1 and next(iter(states))[0] == b"2"
        nursery.cancel_scope.cancel()


async def test_a_pipeline_of_kv_writes_is_one_entry_with_a_result_per_write(tmp_path):
    """kv sets pipeline_entries: a batch's consecutive kv writes share one entry (on the
    leader, and forwarded from a follower), each answered on its own, errors included.
    locks does not: its writes stay one entry each, in order between the kv runs."""
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery, (KVMachine, LocksMachine))
        for node in (leader, follower):
            await node.submit("kv", cmd("DEL", "a")).wait_one()
            before = leader.host.applied
            writes = [
                ("kv", cmd("SET", "a", "1")),
                ("kv", cmd("INCR", "a")),
                ("kv", cmd("HSET", "a", "f", "v")),
                ("kv", cmd("INCR", "a")),
                ("locks", cmd("LOCK.ACQUIRE", f"job{node.node_id}", "w", "60000")),
                ("locks", cmd("LOCK.ACQUIRE", f"other{node.node_id}", "w", "60000")),
                ("kv", cmd("GET", "a")),
            ]
            waiter = node.submit_batch(writes)
            one, two, wrongtype, three, token, token2, got = await waiter.wait()
            assert (one, two, three, got) == ("OK", 2, 3, b"3")
            assert isinstance(wrongtype, ReplyError) and wrongtype.message.startswith("WRONGTYPE")
            # kv run, lock, lock, kv run: four entries; the first run's four writes share one index
            assert leader.host.applied == before + 4 and token2 == token + 1 == before + 3
            assert waiter.index == before + 4
        nursery.cancel_scope.cancel()


async def test_a_pipeline_of_writes_and_reads_is_one_entry_read_in_place(tmp_path):
    """Issue 11: a burst mixing kv writes and reads is ONE entry (one proposal, one wait),
    on the leader and forwarded from a follower; each read answers at its place in the
    burst (read-your-writes, never a later write's value), errors included."""
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery)
        assert follower.pipeline_machines == frozenset({"kv"})
        for node in (leader, follower):
            await node.submit("kv", cmd("DEL", "a", "h")).wait_one()
            before = leader.host.applied
            steps = [
                ("kv", cmd("SET", "a", "1"), True),
                ("kv", cmd("GET", "a"), False),
                ("kv", cmd("INCR", "a"), True),
                ("kv", cmd("GET", "a"), False),
                ("kv", cmd("HGET", "a", "f"), False),
                ("kv", cmd("SET", "a", "last"), True),
                ("kv", cmd("GET", "a"), False),
            ]
            waiter = node.submit_pipeline(steps)
            ok, one, two, got_two, wrongtype, ok2, last = await waiter.wait()
            assert (ok, one, two, got_two, ok2, last) == ("OK", b"1", 2, b"2", "OK", b"last")
            assert isinstance(wrongtype, ReplyError) and wrongtype.message.startswith("WRONGTYPE")
            assert leader.host.applied == before + 1 and waiter.index == before + 1
        nursery.cancel_scope.cancel()


async def test_a_mixed_pipeline_splits_at_the_entry_cap_and_refuses_other_machines(tmp_path, monkeypatch):
    """The entry cap (PIPELINE_ENTRY_BYTES) cuts a mixed burst into entries, still in order;
    a machine without pipeline_entries (locks) is refused in a pipeline, the rest goes on."""
    from replicator.core import pipeline

    monkeypatch.setattr(pipeline, "PIPELINE_ENTRY_BYTES", 100)
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery, (KVMachine, LocksMachine))
        await leader.submit("kv", cmd("DEL", "k")).wait_one()  # the new leader's first entry is applied
        for node in (leader, follower):
            before = leader.host.applied
            steps = []
            for i in range(3):
                steps += [("kv", cmd("SET", "k", f"v{i}" + "x" * 20), True), ("kv", cmd("GET", "k"), False)]
            steps.append(("locks", cmd("LOCK.ACQUIRE", "j", "w", "60000"), True))
            results = await node.submit_pipeline(steps).wait()
            assert results[:6] == ["OK", b"v0" + b"x" * 20, "OK", b"v1" + b"x" * 20, "OK", b"v2" + b"x" * 20]
            assert str(results[6]) == "ERR state machine 'locks' does not take pipeline entries"
            assert leader.host.applied == before + 3  # SET+GET (about 60 bytes of steps) per entry
        nursery.cancel_scope.cancel()


async def test_random_mixed_pipelines_answer_as_one_client_applying_them_in_order(tmp_path, monkeypatch):
    """Random bursts of kv writes and reads on few keys, on the leader and a follower, with a
    small entry cap (so bursts span entries): every answer is what a lone kv machine applying
    the same commands in order answers. Prints its seed; REPLAY_SEED=n replays one."""
    import os
    import random

    from replicator.core import pipeline

    monkeypatch.setattr(pipeline, "PIPELINE_ENTRY_BYTES", 300)
    seed = int(os.environ.get("REPLAY_SEED", random.randrange(1 << 32)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    model, ts = KVMachine(), 0
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery)
        for _ in range(6):
            node = rng.choice((leader, follower))
            steps = []
            for _ in range(rng.randrange(1, 60)):
                key = rng.choice("abc")
                steps.append(
                    rng.choice(
                        [
                            ("kv", cmd("SET", key, str(rng.randrange(100))), True),
                            ("kv", cmd("INCR", key), True),
                            ("kv", cmd("DEL", key), True),
                            ("kv", cmd("APPEND", key, "x"), True),
                            ("kv", cmd("GET", key), False),
                            ("kv", cmd("STRLEN", key), False),
                            ("kv", cmd("EXISTS", key), False),
                        ]
                    )
                )
            got = await node.submit_pipeline(steps).wait()
            expected = []
            for _, command, write in steps:
                ts += 1
                expected.append(model.apply(ts, command, 0) if write else model.query(command, 0))
            assert [str(r) if isinstance(r, ReplyError) else r for r in got] == [
                str(r) if isinstance(r, ReplyError) else r for r in expected
            ], f"seed {seed}"
        nursery.cancel_scope.cancel()


async def test_a_pipeline_entry_stops_growing_at_its_size_cap(tmp_path, monkeypatch):
    from replicator.core import pipeline

    monkeypatch.setattr(pipeline, "PIPELINE_ENTRY_BYTES", 100)
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, _ = await cluster.start_all(nursery)
        await leader.submit("kv", cmd("DEL", "k0")).wait_one()  # the new leader's first entry is applied
        before = leader.host.applied
        # 32 bytes each, 46 with the step's overhead (machine name, msgpack headers): two per entry
        writes = [("kv", cmd("SET", f"k{i}", "x" * 20)) for i in range(6)]
        assert await leader.submit_batch(writes).wait() == ["OK"] * 6
        assert leader.host.applied == before + 3
        nursery.cancel_scope.cancel()


async def test_a_command_over_max_entry_bytes_is_refused_on_arrival(tmp_path):
    """Finding 5 of issue 10: nothing above max_entry_bytes is proposed, on the leader or
    forwarded from a follower; the rest of the batch goes on."""
    limit = 2 << 20
    cluster = InProcessCluster(tmp_path, max_entry_bytes=limit)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery)
        big = cmd("SET", "big", "x" * limit)
        await leader.submit("kv", cmd("DEL", "a")).wait_one()  # the new leader's first entry is committed
        for node in (leader, follower):
            before = leader.host.engine.status().commit
            results = await node.submit_batch([("kv", cmd("SET", "a", "1")), ("kv", big)]).wait()
            assert results[0] == "OK"
            assert str(results[1]) == f"ERR command of {len(big)} bytes exceeds max_entry_bytes ({limit})"
            assert leader.host.engine.status().commit == before + 1  # only the small one was proposed
        nursery.cancel_scope.cancel()


async def test_a_follower_forwards_a_burst_in_parts(tmp_path, monkeypatch):
    """A burst of large writes travels to the leader in several ForwardRequests, none much
    above FORWARD_BYTES, so none can reach the peer frame limit; answered in order."""
    from replicator.core import forwarding
    from replicator.runtime import messages

    monkeypatch.setattr(forwarding, "FORWARD_BYTES", 1000)
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery)
        sent = []
        send = follower.core._send_one  # what the core sends through (the transport's send)
        monkeypatch.setattr(follower.core, "_send_one", lambda msg: (sent.append(msg), send(msg))[1])

        writes = [("kv", cmd("RPUSH", "l", str(i) * 400)) for i in range(1, 8)]
        assert await follower.submit_batch(writes).wait() == list(range(1, 8))
        forwards = [m for m in sent if isinstance(m, messages.ForwardRequest)]
        assert len(forwards) >= 3 and all(sum(map(len, f.commands)) <= 1000 + 500 for f in forwards)
        nursery.cancel_scope.cancel()


def test_a_forward_reply_too_large_for_a_frame_says_so():
    """A write whose result cannot travel back in one frame (an LPOP of a huge list) gets an
    error that says it was applied, instead of breaking the link to the follower."""
    from replicator.codec import MAX_FRAME_BYTES
    from replicator.core import forwarding
    from replicator.runtime import messages

    assert forwarding.FORWARD_REPLY_BYTES_MAX <= MAX_FRAME_BYTES // 2  # room for the frame's other fields
    request = messages.ForwardRequest(1, 2, 7, ("kv", "kv"), (b"a", b"b"))
    replies = []
    batch = forwarding.ForwardedBatch(request, replies.append, 0.0)
    batch.set(0, b"x" * (forwarding.FORWARD_REPLY_BYTES_MAX + 1), 5)
    batch.set(1, "OK", 6)  # the last slot: the batch fits its reply and sends it
    assert replies[0].results[0] == b"" and "too large to forward" in replies[0].errors[0]
    assert replies[0].errors[1] == "" and replies[0].results[1]


async def test_lease_reads_are_answered_from_the_leaders_lease(tmp_path):
    """With lease_reads, a `lease` read on the leader needs no round: it is answered after both
    followers stopped, while the lease (a little under the election timeout, here 2 s) holds. A
    linearizable read then cannot be answered: no quorum acknowledges its heartbeat round. Without
    lease_reads (the issue's bug: the runtime never enabled the engine's lease) the lease read
    would wait like the linearizable one. A busy machine may take longer than the lease to stop
    two nodes: then the followers come back and the attempt is made again."""
    cluster = InProcessCluster(tmp_path, tick_ms=50, election_ticks=40, lease_reads=True, request_timeout_ms=1000)
    async with trio.open_nursery() as nursery:
        leader, _ = await cluster.start_all(nursery)
        for _attempt in range(5):
            leader = await cluster.leader()
            assert leader.host.engine.config.lease_read
            assert await leader.submit("kv", cmd("SET", "k", "v")).wait_one() == "OK"
            with trio.fail_after(10):  # a heartbeat round a quorum answered starts the lease (Raft's engine)
                while not leader.host.engine._lease_valid():
                    await trio.sleep(0.01)
            started = trio.current_time()
            followers = [i for i in cluster.nodes if i != leader.node_id]
            for node_id in followers:
                await cluster.stop(node_id)
            if trio.current_time() - started < 0.5:  # well inside the lease
                break
            for node_id in followers:
                await cluster.start(nursery, node_id)
        lease = leader.read("kv", cmd("GET", "k"), ReadConsistency.LEASE)
        linearizable = leader.read("kv", cmd("GET", "k"), ReadConsistency.LINEARIZABLE)
        assert await lease.wait_one() == b"v"
        assert isinstance((await linearizable.wait())[0], TimedOut)
        nursery.cancel_scope.cancel()
