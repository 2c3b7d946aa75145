"""The files of deploy/ are checked without Docker or Kubernetes: they parse, every
replicator command line in them is accepted by the CLI's own parser, every config
they carry loads with replicator.config, and their ports, paths and names agree
with each other. promtool checks the Prometheus files (skipped without it, unless CI)."""

from __future__ import annotations

import configparser
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from frontends.metrics import NodeMetrics
from replicator import config as config_mod
from replicator.cli import build_parser
from replicator.config import Config, Member

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(DEPLOY / "grafana"))
import dashboard  # noqa: E402


def parse_replicator_argv(argv: list[str]):
    """argv as a shell/exec would give it; the program must be the replicator console script."""
    assert Path(argv[0]).name == "replicator", argv
    return build_parser().parse_args(argv[1:])


def load_yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed but CI is set: tests/run.sh must install the 'prometheus' package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


# --- Dockerfile --------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [tuple(line.split(None, 1)) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    (entrypoint,) = [json.loads(arg) for op, arg in instructions if op == "ENTRYPOINT"]
    assert entrypoint == ["replicator", "serve", "--config", "/etc/replicator/node.toml"]
    args = parse_replicator_argv(entrypoint)
    assert args.command == "serve" and str(args.config) == "/etc/replicator/node.toml"
    for op, arg in instructions:
        if op == "COPY":
            for src in arg.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: no such file in the build context"
    assert ("RUN", "pip install . && cd / && rm -rf /src") in instructions
    exposed = {int(p) for op, arg in instructions if op == "EXPOSE" for p in arg.split()}
    compose_cfg = config_mod.load(DEPLOY / "compose" / "n1.toml")
    assert exposed == {compose_cfg.resp[1], compose_cfg.peer[1], compose_cfg.metrics[1]}
    # the build context is the repository root: the Dockerfile-specific ignore file must keep the sources
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for needed in ("!pyproject.toml", "!replicator/", "!statemachines/", "!frontends/"):
        assert needed in ignore


# --- compose -----------------------------------------------------------------------------
def test_compose_cluster():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"n1", "n2", "n3", "prometheus", "grafana"} <= set(services)
    configs: dict[str, Config] = {}
    for name in ("n1", "n2", "n3"):
        svc = services[name]
        build = svc["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
        source = DEPLOY / mounts["/etc/replicator/node.toml"]
        cfg = config_mod.load(source)
        configs[name] = cfg
        assert cfg.node_id == int(name[1:])
        assert mounts["/var/lib/replicator"] in compose["volumes"]  # a named volume
        assert cfg.data_dir.parent == Path("/var/lib/replicator"), "data_dir must be inside the volume"
        assert cfg.resp[0] == cfg.peer[0] == cfg.metrics[0] == "0.0.0.0"
        # the image's ENTRYPOINT runs it unless the service overrides it
        assert "entrypoint" not in svc and "command" not in svc
        health = svc["healthcheck"]["test"]
        assert health[0] == "CMD"
        args = parse_replicator_argv(health[1:])
        assert args.command == "status" and args.port == cfg.resp[1]
        published = {int(p.split(":")[1]) for p in svc["ports"]}
        assert published == {cfg.resp[1], cfg.metrics[1]}
    # the service "secret" writes the cluster secret, before any node starts, where every node reads it
    secret_svc = services["secret"]
    args = parse_replicator_argv(secret_svc["entrypoint"])
    assert args.command == "secret"
    (secret_mount,) = [v.split(":") for v in secret_svc["volumes"]]
    assert secret_mount[0] in compose["volumes"] and args.file.parent == Path(secret_mount[1])
    assert secret_svc["build"] == services["n1"]["build"] and secret_svc["image"] == services["n1"]["image"]
    for name, cfg in configs.items():
        assert services[name]["depends_on"]["secret"]["condition"] == "service_completed_successfully"
        assert f"{secret_mount[0]}:{secret_mount[1]}:ro" in services[name]["volumes"]
        assert cfg.cluster_secret_file == args.file and not cfg.insecure_peers
    # members are the service names, on the ports the nodes bind
    for cfg in configs.values():
        assert [(m.id, m.peer, m.resp) for m in cfg.members] == [
            (c.node_id, (name, c.peer[1]), (name, c.resp[1])) for name, c in configs.items()
        ]
        assert cfg.cluster_id == "compose"
    # Prometheus scrapes exactly those metrics endpoints, with the alert rules mounted beside it
    prom = services["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prom["volumes"]}
    prom_cfg = yaml.safe_load((DEPLOY / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    (job,) = [j for j in prom_cfg["scrape_configs"] if j["job_name"] == "replicator"]
    assert job["static_configs"][0]["targets"] == [f"{name}:{c.metrics[1]}" for name, c in configs.items()]
    for rule_file in prom_cfg["rule_files"]:
        assert f"/etc/prometheus/{rule_file}" in mounts
        assert (DEPLOY / mounts[f"/etc/prometheus/{rule_file}"]).exists()
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    # Grafana gets the provisioning and the dashboard where the provider looks for it
    grafana = services["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    provisioning = DEPLOY / mounts["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards" / "replicator.yml").read_text())["providers"][0]
    dashboards_dir = DEPLOY / mounts[provider["options"]["path"]]
    assert (dashboards_dir / "replicator.json").exists()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/") and (dashboards_dir / Path(home).name).exists()
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"


# --- Kubernetes ----------------------------------------------------------------------------
def k8s_objects() -> dict[str, list[dict]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    objects: dict[str, list[dict]] = {}
    for resource in kustomization["resources"]:
        for doc in load_yaml_docs(DEPLOY / "k8s" / resource):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), resource
            objects.setdefault(doc["kind"], []).append(doc)
    return objects


FAKE_REPLICATOR = """#!{python}
# Stands in for the replicator console script: every command line must parse with the
# real CLI parser; it is recorded; `member add` writes the config file it names.
import json, sys
sys.path.insert(0, {root!r})
from replicator.cli import build_parser
args = build_parser().parse_args(sys.argv[1:])
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if args.command == "member":
    open(args.write_config, "w").write("written by member add\\n")
"""


def run_start_script(tmp_path: Path, cm: dict, pod: str, mounts: dict[str, str]) -> list[list[str]]:
    """Run the ConfigMap's start.sh as pod `pod` would (its mount points moved under
    tmp_path) with a stand-in replicator; the command lines it ran."""
    etc, var = tmp_path / "etc", tmp_path / "var"
    etc.mkdir(parents=True, exist_ok=True)
    var.mkdir(parents=True, exist_ok=True)
    for name, text in cm["data"].items():
        (etc / name).write_text(text)
    script = cm["data"]["start.sh"].replace(mounts["config"], str(etc)).replace(mounts["data"], str(var))
    bin_dir, log = tmp_path / "bin", tmp_path / f"{pod}.log"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "replicator"
    fake.write_text(FAKE_REPLICATOR.format(python=sys.executable, root=str(ROOT), log=str(log)))
    fake.chmod(0o755)
    env = dict(os.environ, POD_NAME=pod, PATH=f"{bin_dir}:{os.environ['PATH']}")
    run = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_kubernetes_scaling_joins_and_restarts_with_real_commands(tmp_path):
    """Pods past the bootstrap three join with `replicator member add` (once: a restart
    reuses the config it wrote); the documented scale-down commands parse too."""
    objects = k8s_objects()
    (sts,) = objects["StatefulSet"]
    (cm,) = objects["ConfigMap"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "/etc/replicator/start.sh"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for ordinal in range(3):
        pod = f"replicator-{ordinal}"
        (ran,) = run_start_script(tmp_path / pod, cm, pod, mounts)
        assert ran[-3:] == ["serve", "--config", str(tmp_path / pod / "etc" / f"{pod}.toml")]
    pod = "replicator-3"
    first = run_start_script(tmp_path / pod, cm, pod, mounts)
    add, serve = first
    args = build_parser().parse_args(add)
    assert (args.command, args.action, args.id, args.role) == ("member", "add", 4, "learner")
    assert (args.peer, args.resp, args.bind_host) == (f"{pod}.replicator:7379", f"{pod}.replicator:6379", "0.0.0.0")
    assert args.from_config.name == "replicator-0.toml" and args.metrics == "0.0.0.0:9379"
    assert serve[-3:] == ["serve", "--config", str(args.write_config)]
    again = run_start_script(tmp_path / pod, cm, pod, mounts)[len(first) :]  # the log is the pod's
    assert again == [serve], "a restart must not add the member again"
    documented = [
        line.split("--", 1)[1].strip()
        for line in (DEPLOY / "k8s" / "configmap.yaml").read_text().splitlines()
        if "kubectl exec" in line and "replicator member" in line
    ]
    assert len(documented) == 2
    for line in documented:
        args = parse_replicator_argv(shlex.split(line))
        assert (args.command, args.action) == ("member", "remove")


def test_kubernetes_manifests():
    objects = k8s_objects()
    (sts,) = objects["StatefulSet"]
    (cm,) = objects["ConfigMap"]
    (pdb,) = objects["PodDisruptionBudget"]
    services = {s["metadata"]["name"]: s for s in objects["Service"]}
    spec = sts["spec"]
    name, replicas = sts["metadata"]["name"], spec["replicas"]
    headless = services[spec["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    for svc in services.values():
        assert svc["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1 and replicas == 3  # a majority survives a disruption
    (claim,) = spec["volumeClaimTemplates"]
    (container,) = spec["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert claim["metadata"]["name"] in mounts
    (config_volume,) = [v for v in spec["template"]["spec"]["volumes"] if v["name"] in mounts and "configMap" in v]
    assert config_volume["configMap"]["name"] == cm["metadata"]["name"]
    env = {e["name"]: e for e in container["env"]}
    secret_dirs, secret_files = set(), set()
    for ordinal in range(replicas):
        pod = f"{name}-{ordinal}"
        # start.sh serves /etc/replicator/$POD_NAME.toml (test_kubernetes_scaling_... runs it)
        assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        config_path = Path(mounts[config_volume["name"]]) / f"{pod}.toml"
        cfg = config_mod.from_dict(tomllib.loads(cm["data"][config_path.name]), f"configmap {config_path.name}")
        assert cfg.node_id == ordinal + 1
        assert Path(mounts[claim["metadata"]["name"]]) in cfg.data_dir.parents
        assert cfg.data_dir != Path(mounts[claim["metadata"]["name"]]), "a fresh volume holds lost+found"
        assert (cfg.resp[1], cfg.peer[1], cfg.metrics[1]) == (ports["redis"], ports["peer"], ports["metrics"])
        assert [(m.id, m.peer) for m in cfg.members] == [
            (i + 1, (f"{name}-{i}.{headless['metadata']['name']}", ports["peer"])) for i in range(replicas)
        ]
        assert cfg.cluster_secret_file is not None and not cfg.insecure_peers
        secret_dirs.add(cfg.cluster_secret_file.parent)
        secret_files.add(cfg.cluster_secret_file.name)
    assert len(cm["data"]) == replicas + 1  # and start.sh
    # the cluster secret: generated by kustomize from a file kept out of git, mounted where the configs read it
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    (generator,) = kustomization["secretGenerator"]
    assert generator["files"] == sorted(secret_files)
    assert generator["files"][0] in (DEPLOY / "k8s" / ".gitignore").read_text().split()
    (secret_volume,) = [v for v in spec["template"]["spec"]["volumes"] if "secret" in v]
    assert secret_volume["secret"]["secretName"] == generator["name"]
    assert secret_dirs == {Path(mounts[secret_volume["name"]])}
    probes = container["livenessProbe"]["httpGet"], container["readinessProbe"]["tcpSocket"]
    assert probes[0]["path"] == "/metrics" and probes[0]["port"] == "metrics" and probes[1]["port"] == "redis"
    security = spec["template"]["spec"]["securityContext"]
    assert security["runAsUser"] == 10001 and security["fsGroup"] == 10001  # the Dockerfile's user
    # the optional PodMonitor parses and points at the metrics port
    (monitor,) = load_yaml_docs(DEPLOY / "k8s" / "podmonitor.yaml")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


# --- systemd -------------------------------------------------------------------------------
def test_systemd_unit():
    unit_path = DEPLOY / "systemd" / "replicator@.service"
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read_string(unit_path.read_text())
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"].replace("%i", "n1"))
    args = parse_replicator_argv(argv)
    assert args.command == "serve" and args.log_format == "json"
    example = DEPLOY / "systemd" / "n1.toml"
    assert args.config == Path("/etc/replicator") / example.name
    cfg = config_mod.load(example)
    assert cfg.data_dir == Path("/var/lib") / service["StateDirectory"].replace("%i", "n1")
    # the unit's instructions make the secret file that the config reads
    made = [
        shlex.split(line.lstrip("# ").split("#")[0])
        for line in unit_path.read_text().splitlines()
        if line.startswith("#") and " secret --file " in line
    ]
    assert [parse_replicator_argv(argv).file for argv in made] == [cfg.cluster_secret_file]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:  # the unit is accepted by systemd itself (with a binary that exists)
        text = unit_path.read_text().replace(argv[0], str(Path(sys.executable).with_name("replicator")))
        with_binary = Path(os.environ.get("TMPDIR", "/tmp")) / f"replicator-unit-{os.getpid()}"
        with_binary.mkdir(exist_ok=True)
        try:
            (with_binary / "replicator@n1.service").write_text(text)
            run = subprocess.run(
                [analyze, "verify", str(with_binary / "replicator@n1.service")],
                capture_output=True,
                text=True,
                timeout=30,
            )
            problems = [line for line in (run.stdout + run.stderr).splitlines() if "replicator@" in line]
            assert run.returncode == 0 and not problems, run.stdout + run.stderr
        finally:
            shutil.rmtree(with_binary, ignore_errors=True)


# --- Grafana and Prometheus ---------------------------------------------------------------
def exported_names(tmp_path: Path) -> set[str]:
    """Every metric family the node exports (a leader with peers, so per-peer series appear)."""
    from replicator.protocol import EngineConfig
    from replicator.protocol.raft.engine import RaftEngine
    from replicator.storage.memory_store import MemoryStore
    from replicator.types import PeerProgress, Role, Status

    members = tuple(Member(i, ("h", 2), ("h", 1)) for i in (1, 2, 3))
    metrics = NodeMetrics(Config(node_id=1, members=members, data_dir=tmp_path, resp=("h", 1), peer=("h", 2)))
    status = Status(1, Role.LEADER, 1, 1, 1, 1, 1, 1, {2: PeerProgress(1, 2, "replicate")}, {"snapshot_index": 0})
    engine = RaftEngine(EngineConfig(node_id=1, voters=(1, 2, 3)), MemoryStore(), random.Random(0))
    host = SimpleNamespace(engine=engine)  # what the collectors read of a NodeHost: its engine's counters
    node = type(
        "N",
        (),
        {
            "host": host,
            "transport": None,
            "status": lambda self: status,
            "membership": lambda self: metrics.config.membership(),
            "last_contact_s": lambda self, peer: 0.5 if peer == 2 else None,
        },
    )
    metrics.bind(node())
    metrics.resp.command("get", b"x")  # commands_total has a series per command seen
    metrics.status_collector.capture()
    names = set()
    for family in metrics.registry.collect():
        names.update(s.name for s in family.samples)
        names.add(family.name)
    names.add("up")  # Prometheus' own
    return names


METRIC_RE = re.compile(r"\b((?:replicator|process)_[a-z_]+|up)\b(?!\s*\()")


def test_dashboard_is_generated_and_uses_exported_metrics(tmp_path):
    assert dashboard.main(["--check"]) == 0, "run python deploy/grafana/dashboard.py"
    board = json.loads(dashboard.OUT.read_text())
    variables = {v["name"] for v in board["templating"]["list"]}
    assert variables == {"datasource", "cluster", "node"}
    exported = exported_names(tmp_path)
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(METRIC_RE.findall(target["expr"]))
            assert used and used <= exported, (panel["title"], used - exported)
            assert 'cluster="$cluster"' in target["expr"], panel["title"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in (
        "leader",
        "nodes",
        "writes",
        "latency",
        "lag",
        "fsync",
        "batch",
        "elections",
        "snapshot",
        "connections",
        "errors",
    ):
        assert topic in titles, topic


def test_alert_rules_use_exported_metrics(tmp_path):
    groups = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    rules = [r for g in groups for r in g["rules"]]
    exported = exported_names(tmp_path)
    names = {r["alert"] for r in rules}
    for wanted in (
        "ReplicatorNodeDown",
        "ReplicatorNoLeader",
        "ReplicatorLeaderChangesTooOften",
        "ReplicatorFollowerLagging",
        "ReplicatorFsyncSlow",
        "ReplicatorDiskFilling",
    ):
        assert wanted in names
    for rule in rules:
        used = set(METRIC_RE.findall(rule["expr"]))
        assert used and used <= exported, (rule["alert"], used - exported)
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_membership_alert_fires_when_one_more_failure_stops_writes():
    """promtool's rule unit test (tests/deploy/testdata): evaluated by Prometheus' own engine."""
    tool = promtool()
    test = ROOT / "tests" / "deploy" / "testdata" / "alerts_membership_test.yml"
    run = subprocess.run([tool, "test", "rules", str(test)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_accepts_config_and_rules():
    tool = promtool()
    for args in (
        ["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        ["check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
    ):
        run = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
