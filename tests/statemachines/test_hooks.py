"""statemachines/hooks.py: the optional parts of the StateMachine contract, as the node sees them."""

from __future__ import annotations

from statemachines.hooks import (
    Housekeeping,
    PipelineEntries,
    PointInTimeSnapshot,
    Watchable,
    allows_pipeline_entries,
    has_point_in_time_snapshot,
)
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from statemachines.znodes import ZnodesMachine


def test_the_built_in_machines_declare_what_they_offer():
    kv, locks, znodes = KVMachine(), LocksMachine(), ZnodesMachine()
    assert all(isinstance(m, Housekeeping) for m in (kv, locks, znodes))
    assert isinstance(kv, Watchable) and not isinstance(locks, Watchable) and not isinstance(znodes, Watchable)
    assert allows_pipeline_entries(kv) and not allows_pipeline_entries(locks) and not allows_pipeline_entries(znodes)
    assert has_point_in_time_snapshot(kv) and not has_point_in_time_snapshot(locks)


def test_a_flag_set_false_is_the_same_as_no_flag():
    class Cautious(KVMachine):
        pipeline_entries = False
        snapshot_is_point_in_time = False

    machine = Cautious()
    assert isinstance(machine, PipelineEntries) and isinstance(machine, PointInTimeSnapshot)
    assert not allows_pipeline_entries(machine) and not has_point_in_time_snapshot(machine)


def test_a_machine_with_only_the_five_methods_has_no_hooks():
    class Plain:
        name = "plain"

        def commands(self):
            return []

        def apply(self, index, command, ts_ms):
            return None

        def query(self, request, now_ms):
            return None

        def snapshot(self):
            return iter(())

        def restore(self, chunks):
            pass

    machine = Plain()
    assert not isinstance(machine, Housekeeping) and not isinstance(machine, Watchable)
    assert not allows_pipeline_entries(machine) and not has_point_in_time_snapshot(machine)
