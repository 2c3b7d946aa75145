"""Writes deploy/grafana/dashboards/replicator.json, the Grafana dashboard of a cluster.

    python deploy/grafana/dashboard.py          # rewrite the JSON
    python deploy/grafana/dashboard.py --check  # exit 1 if the JSON is out of date

The panels are declared here, as data, so that the JSON stays regular and the
test (tests/metrics/test_prometheus_live.py) can run every query against a
live cluster: each panel's expressions must return series from metrics that
frontends/metrics.py really exports. Template variables: `datasource`,
`cluster` and `node` (multi-select; "All" is the regex .*).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards" / "replicator.json"

C = 'cluster="$cluster"'
CN = 'cluster="$cluster", node=~"$node"'
RI = "$__rate_interval"


def q(p: float, metric: str, by: str = "") -> str:
    """histogram_quantile over the selected nodes (or per `by`)."""
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({p}, sum by ({group}) (rate({metric}_bucket{{{CN}}}[{RI}])))"


# (row title, [(panel title, type, unit, [(expr, legend)], description)])
ROWS = [
    (
        "Cluster",
        [
            (
                "Leader",
                "stat",
                "none",
                [
                    (
                        f'max(replicator_leader_id{{{C}}} and on (node) (replicator_role{{{C}, role="leader"}} == 1))',
                        "leader",
                    ),
                ],
                "Node id of the node that currently leads (empty: no leader).",
            ),
            (
                "Nodes reporting",
                "stat",
                "none",
                [
                    (f"count(replicator_node_info{{{C}}})", "reporting"),
                    (f'max(replicator_members{{{C}, role="voter"}})', "voters configured"),
                ],
                "Nodes whose /metrics Prometheus scraped, against the configured voters.",
            ),
            (
                "Role by node",
                "timeseries",
                "none",
                [
                    (f"replicator_role{{{CN}}} == 1", "{{node}} {{role}}"),
                ],
                "The current role of each node (one series per node and role).",
            ),
            (
                "Leader seen by each node",
                "timeseries",
                "none",
                [
                    (f"replicator_leader_id{{{CN}}}", "node {{node}}"),
                ],
                "0 while a node knows no leader. Nodes disagreeing for long is a partition.",
            ),
            (
                "Term / epoch",
                "timeseries",
                "none",
                [
                    (f"replicator_term{{{CN}}}", "node {{node}}"),
                ],
                "Raft term or ZAB epoch; it rises at each election.",
            ),
            (
                "Peer links",
                "timeseries",
                "none",
                [
                    (f"replicator_peer_connected{{{CN}}}", "{{node}} -> {{peer}}"),
                ],
                "1 while the outgoing peer connection is up.",
            ),
        ],
    ),
    (
        "Membership",
        [
            (
                "Members by role",
                "timeseries",
                "none",
                [
                    (
                        f"max by (role) (replicator_members{{{C}}} and on (node) "
                        f'(replicator_role{{{C}, role="leader"}} == 1))',
                        "{{role}}",
                    ),
                ],
                "Voters, learners and observers of the configuration in force on the leader.",
            ),
            (
                "Healthy voters",
                "timeseries",
                "none",
                [
                    (f"max(replicator_voters_healthy{{{C}}})", "healthy voters"),
                    (f"max(replicator_voters_quorum{{{C}}})", "quorum"),
                ],
                "Voters the leader heard from recently, against the majority commits need. "
                "At the quorum line, one more failure stops writes.",
            ),
            (
                "Configuration changes",
                "timeseries",
                "none",
                [
                    (f"increase(replicator_membership_changes_total{{{CN}}}[{RI}])", "node {{node}}"),
                ],
                "Configurations each node took on (added, removed or promoted members; a change undone "
                "by a new leader counts too).",
            ),
            (
                "Members",
                "timeseries",
                "none",
                [
                    (f"replicator_member_info{{{CN}}}", "{{node}} sees {{member}} {{role}}"),
                ],
                "Each member and its role, as each node sees it: nodes disagreeing for long lag behind.",
            ),
        ],
    ),
    (
        "Throughput",
        [
            (
                "Applied entries / s",
                "timeseries",
                "ops",
                [
                    (f"rate(replicator_applied_index{{{CN}}}[{RI}])", "node {{node}}"),
                ],
                "Log entries applied to the state machine per second.",
            ),
            (
                "Client writes / s",
                "timeseries",
                "ops",
                [
                    (
                        f"sum by (node, outcome) (rate(replicator_proposals_total{{{CN}}}[{RI}]))",
                        "{{node}} {{outcome}}",
                    ),
                    (f"sum by (node) (rate(replicator_forwarded_writes_total{{{CN}}}[{RI}]))", "{{node}} forwarded"),
                ],
                "Writes proposed by each node's clients, by outcome, and those forwarded to the leader.",
            ),
            (
                "Commands / s",
                "timeseries",
                "ops",
                [
                    (f"sum by (command) (rate(replicator_commands_total{{{CN}}}[{RI}]))", "{{command}}"),
                ],
                "Client commands answered, by command.",
            ),
            (
                "Read barriers / s",
                "timeseries",
                "ops",
                [
                    (
                        f"sum by (consistency) (rate(replicator_read_barriers_total{{{CN}}}[{RI}]))",
                        "barriers {{consistency}}",
                    ),
                    (
                        f"sum by (consistency) (rate(replicator_read_barrier_reads_total{{{CN}}}[{RI}]))",
                        "reads {{consistency}}",
                    ),
                ],
                "Read barriers (ReadIndex / sync) and the reads they served.",
            ),
        ],
    ),
    (
        "Latency",
        [
            (
                "Write latency",
                "timeseries",
                "s",
                [
                    (q(0.5, "replicator_proposal_duration_seconds"), "p50"),
                    (q(0.99, "replicator_proposal_duration_seconds"), "p99"),
                    (q(0.999, "replicator_proposal_duration_seconds"), "p99.9"),
                ],
                "From submit to the committed result, for writes the node proposed.",
            ),
            (
                "Fsync latency",
                "timeseries",
                "s",
                [
                    (q(0.5, "replicator_fsync_duration_seconds"), "p50"),
                    (q(0.99, "replicator_fsync_duration_seconds"), "p99"),
                    (q(0.99, "replicator_fsync_duration_seconds", "node"), "p99 node {{node}}"),
                ],
                "One durable write of a Ready: a journal record and its fdatasync, or an LMDB commit at a checkpoint.",
            ),
            (
                "Batch size (entries per fsync)",
                "timeseries",
                "none",
                [
                    (q(0.5, "replicator_fsync_batch_entries"), "p50"),
                    (q(0.99, "replicator_fsync_batch_entries"), "p99"),
                    (
                        f"sum(rate(replicator_fsync_batch_entries_sum{{{CN}}}[{RI}])) / "
                        f"sum(rate(replicator_fsync_batch_entries_count{{{CN}}}[{RI}]))",
                        "mean",
                    ),
                ],
                "Group commit: how many log entries share one fsync.",
            ),
            (
                "Fsyncs / s",
                "timeseries",
                "ops",
                [
                    (f"sum by (node) (rate(replicator_fsync_duration_seconds_count{{{CN}}}[{RI}]))", "node {{node}}"),
                ],
                "Durable writes per second.",
            ),
        ],
    ),
    (
        "Replication",
        [
            (
                "Replication lag (entries)",
                "timeseries",
                "none",
                [
                    (f"replicator_peer_lag_entries{{{CN}}}", "{{node}} -> {{peer}}"),
                    (f"replicator_commit_index{{{CN}}} - replicator_applied_index{{{CN}}}", "apply backlog {{node}}"),
                ],
                "Leader: entries each follower is behind; every node: committed but not yet applied.",
            ),
            (
                "Peer last contact",
                "timeseries",
                "s",
                [
                    (f"replicator_peer_last_contact_seconds{{{CN}}}", "{{node}} <- {{peer}}"),
                ],
                "Seconds since a node last received a message from each peer.",
            ),
            (
                "Followers active (leader's view)",
                "timeseries",
                "none",
                [
                    (f"replicator_peer_active{{{CN}}}", "{{node}} -> {{peer}}"),
                ],
                "1 if the follower answered the leader recently.",
            ),
            (
                "Commit and applied index",
                "timeseries",
                "none",
                [
                    (f"replicator_commit_index{{{CN}}}", "commit {{node}}"),
                    (f"replicator_applied_index{{{CN}}}", "applied {{node}}"),
                ],
                "Positions in the log.",
            ),
        ],
    ),
    (
        "Elections and snapshots",
        [
            (
                "Elections",
                "timeseries",
                "none",
                [
                    (f"sum by (node) (increase(replicator_elections_started_total{{{CN}}}[{RI}]))", "started {{node}}"),
                    (f"sum by (node) (increase(replicator_elections_won_total{{{CN}}}[{RI}]))", "won {{node}}"),
                    (
                        f"sum by (node) (increase(replicator_leader_changes_total{{{CN}}}[{RI}]))",
                        "leader changes {{node}}",
                    ),
                ],
                "Elections started and won, and leader changes seen.",
            ),
            (
                "Snapshots",
                "timeseries",
                "none",
                [
                    (f"sum by (node, kind) (increase(replicator_snapshots_total{{{CN}}}[{RI}]))", "{{kind}} {{node}}"),
                    (f"replicator_snapshot_index{{{CN}}}", "index {{node}}"),
                ],
                "Snapshots taken locally or installed from the leader, and the index they cover.",
            ),
            (
                "Snapshot size and duration",
                "timeseries",
                "bytes",
                [
                    (f"replicator_snapshot_last_size_bytes{{{CN}}}", "{{kind}} {{node}}"),
                    (q(0.99, "replicator_snapshot_duration_seconds", "node"), "p99 take {{node}} (s)"),
                ],
                "Size of the latest snapshot, and how long taking one lasts.",
            ),
            (
                "Log size",
                "timeseries",
                "none",
                [
                    (f"replicator_log_entries{{{CN}}}", "entries {{node}}"),
                    (
                        f"replicator_log_last_index{{{CN}}} - replicator_snapshot_index{{{CN}}}",
                        "since snapshot {{node}}",
                    ),
                ],
                "Entries held in the log (compaction keeps it bounded).",
            ),
            (
                "Disk",
                "timeseries",
                "bytes",
                [
                    (f"replicator_data_dir_bytes{{{CN}}}", "data dir {{node}}"),
                    (f"replicator_data_fs_free_bytes{{{CN}}}", "fs free {{node}}"),
                ],
                "Space used by the data directory and left on its filesystem.",
            ),
        ],
    ),
    (
        "Clients and process",
        [
            (
                "Client connections",
                "timeseries",
                "none",
                [
                    (f"replicator_client_connections{{{CN}}}", "open {{node}}"),
                    (f"rate(replicator_client_connections_accepted_total{{{CN}}}[{RI}])", "accepted/s {{node}}"),
                    (f"rate(replicator_client_connections_rejected_total{{{CN}}}[{RI}])", "rejected/s {{node}}"),
                ],
                "Open RESP connections, and new or refused ones per second.",
            ),
            (
                "Errors / s",
                "timeseries",
                "ops",
                [
                    (
                        f'sum by (command, result) (rate(replicator_commands_total{{{CN}, result!="ok"}}[{RI}]))',
                        "{{command}} {{result}}",
                    ),
                    (
                        f'sum by (node, outcome) (rate(replicator_proposals_total{{{CN}, outcome!="ok"}}[{RI}]))',
                        "write {{outcome}} {{node}}",
                    ),
                ],
                "Error replies by command and prefix; writes with an error or unknown outcome.",
            ),
            (
                "Process",
                "timeseries",
                "none",
                [
                    (f"rate(process_cpu_seconds_total{{{CN}}}[{RI}])", "cpu {{node}}"),
                    (f"process_resident_memory_bytes{{{CN}}} / 2^20", "rss MiB {{node}}"),
                    (f"process_open_fds{{{CN}}}", "fds {{node}}"),
                ],
                "CPU (cores), resident memory and open files of each node process.",
            ),
        ],
    ),
]

ANNOTATIONS = [
    ("Leader changes", f"changes(replicator_leader_id{{{C}}}[1m]) > 0", "#F2495C"),
]


def panel_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) for every target: what the live test evaluates."""
    return [(title, expr) for _, panels in ROWS for title, _, _, targets, _ in panels for expr, _ in targets]


def build() -> dict:
    ds = {"type": "prometheus", "uid": "${datasource}"}
    panels: list[dict] = []
    pid = 0
    y = 0
    for row_title, row_panels in ROWS:
        pid += 1
        panels.append(
            {
                "id": pid,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            }
        )
        y += 1
        x = 0
        for title, kind, unit, targets, description in row_panels:
            pid += 1
            w = 6 if kind == "stat" else 8
            if x + w > 24:
                x, y = 0, y + 8
            panel = {
                "id": pid,
                "type": kind,
                "title": title,
                "description": description,
                "datasource": ds,
                "gridPos": {"x": x, "y": y, "w": w, "h": 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + i), "datasource": ds, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
            if kind == "stat":
                panel["options"] = {
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value",
                    "graphMode": "none",
                    "textMode": "value_and_name",
                }
            else:
                panel["options"] = {
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                }
                panel["fieldConfig"]["defaults"]["custom"] = {"lineWidth": 1, "fillOpacity": 0, "spanNulls": True}
            panels.append(panel)
            x += w
        y += 8
    return {
        "uid": "replicator",
        "title": "replicator",
        "description": "A replicator cluster: leader and membership, throughput, latency, replication, "
        "elections, snapshots, clients. Generated by deploy/grafana/dashboard.py.",
        "tags": ["replicator", "raft", "zab"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
            ]
            + [
                {
                    "name": name,
                    "datasource": ds,
                    "enable": True,
                    "expr": expr,
                    "iconColor": color,
                    "step": "15s",
                    "titleFormat": name,
                    "textFormat": "seen by node {{node}}",
                }
                for name, expr, color in ANNOTATIONS
            ]
        },
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                },
                {
                    "name": "cluster",
                    "label": "Cluster",
                    "type": "query",
                    "datasource": ds,
                    "query": {"query": "label_values(replicator_node_info, cluster)", "refId": "cluster"},
                    "definition": "label_values(replicator_node_info, cluster)",
                    "refresh": 2,
                    "sort": 1,
                    "current": {},
                    "hide": 0,
                    "multi": False,
                    "includeAll": False,
                },
                {
                    "name": "node",
                    "label": "Node",
                    "type": "query",
                    "datasource": ds,
                    "query": {"query": 'label_values(replicator_node_info{cluster="$cluster"}, node)', "refId": "node"},
                    "definition": 'label_values(replicator_node_info{cluster="$cluster"}, node)',
                    "refresh": 2,
                    "sort": 3,
                    "current": {},
                    "hide": 0,
                    "multi": True,
                    "includeAll": True,
                    "allValue": ".*",
                },
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
