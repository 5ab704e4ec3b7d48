#!/usr/bin/env python3
"""Consistency checks of the deploy/ kit that no off-the-shelf linter does.

Run by deploy/validate.sh inside its virtualenv (needs PyYAML and promql-parser):

    python deploy/lint/checks.py CHECK [ARGS]

Each check prints one `ok: ...` line (and `note: ...` lines for things worth knowing that are
not failures) or exits 1 with `FAIL: ...` lines naming every problem it found.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from fnmatch import fnmatchcase
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent
REPO = DEPLOY.parent

# --- The service's interface (the metric list the Grafana dashboard and alerts may use) ---------

COUNTERS = {
    "ledgerflow_ledgers_fetched_total",
    "ledgerflow_ledgers_converted_total",
    "ledgerflow_ledgers_archived_total",
    "ledgerflow_rows_archived_total",
    "ledgerflow_xdr_bytes_fetched_total",
    "ledgerflow_bytes_archived_total",
    "ledgerflow_commits_total",
    "ledgerflow_dead_letters_total",
    "ledgerflow_rewinds_total",
    "ledgerflow_retries_total",
    "ledgerflow_restarts_total",
    "ledgerflow_failures_total",
}
GAUGES = {
    "ledgerflow_source_ledger",
    "ledgerflow_checkpoint_ledger",
    "ledgerflow_source_lag_ledgers",
    "ledgerflow_in_flight_batches",
    "ledgerflow_in_flight_bytes",
    "ledgerflow_breaker_state",
    "ledgerflow_process_resident_memory_bytes",
}
HISTOGRAMS = {"ledgerflow_batch_stage_seconds"}
METRICS = COUNTERS | GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
# Series Prometheus itself writes for every target; allowed in alert rules only.
PROMETHEUS_SERIES = {"up"}

# Labels each metric may carry (besides `stream`, on all of them, and the target labels).
SUPERVISOR_STAGES = {"source", "convert", "analytics", "archive"}
BATCH_STAGES = {"fetch", "convert", "analytics", "archive", "checkpoint"}
TABLES = {"ledgers", "transactions", "operations", "contract_events", "payment_volume", "high_value_payments"}
TARGET_LABELS = {"job", "instance"}
LABELS = {
    "ledgerflow_rows_archived_total": {"table"},
    "ledgerflow_retries_total": {"stage"},
    "ledgerflow_restarts_total": {"stage"},
    "ledgerflow_failures_total": {"stage"},
    "ledgerflow_breaker_state": {"stage"},
    "ledgerflow_batch_stage_seconds_bucket": {"stage", "le"},
    "ledgerflow_batch_stage_seconds_sum": {"stage"},
    "ledgerflow_batch_stage_seconds_count": {"stage"},
}
LABEL_VALUES = {"table": TABLES}

# Configuration keys the deploy kit sets that config/ledgerflow.toml does not list yet because
# they are being implemented; reported as notes until the reference file has them.
PENDING_CONFIG_KEYS = {"service.http_addr"}

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)


def finish(ok_line: str, notes: list[str] | None = None) -> None:
    for note in notes or []:
        print(f"note: {note}")
    if failures:
        for message in failures:
            print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {ok_line}")


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def load_yaml(path: Path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_all(path: Path) -> list:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# --- PromQL -----------------------------------------------------------------------------------

GRAFANA_RANGE_VARS = ("$__rate_interval", "${__rate_interval}", "$__interval", "${__interval}", "$__range", "${__range}")


def promql_for_parsing(expr: str) -> str:
    """Grafana's range variables are not PromQL: substitute a duration."""
    for var in GRAFANA_RANGE_VARS:
        expr = expr.replace(var, "5m")
    return expr


def promql_uses(expr: str, where: str) -> tuple[set[str], list[tuple[str, set[str]]]]:
    """(metric names, [(metric, label names matched)]) of one expression; records parse errors."""
    import promql_parser

    try:
        ast = promql_parser.parse(promql_for_parsing(expr))
    except Exception as err:  # the parser raises ValueError with the position
        fail(f"{where}: PromQL does not parse: {err}: {expr}")
        return set(), []
    names: set[str] = set()
    selectors: list[tuple[str, set[str], list[tuple[str, str]]]] = []
    grouping: list[set[str]] = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            matchers = list(node.matchers.matchers) if node.matchers else []
            name = node.name
            for m in matchers:
                if m.name == "__name__":
                    name = m.value
            if name is None:
                fail(f"{where}: a selector without a metric name: {expr}")
                return True
            names.add(name)
            selectors.append((name, {m.name for m in matchers if m.name != "__name__"},
                              [(m.name, m.value) for m in matchers if m.name != "__name__"]))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.append(set(node.modifier.labels))
        return True

    promql_parser.walk(ast, visit)
    # Grouping labels must be labels some selected metric of the expression carries.
    carried = set().union(*(LABELS.get(n, set()) for n in names)) | {"stream"} | TARGET_LABELS if names else set()
    for labels in grouping:
        for label in labels - carried:
            fail(f"{where}: groups by `{label}`, which none of {sorted(names)} has: {expr}")
    for name, labels, pairs in selectors:
        allowed = LABELS.get(name, set()) | {"stream"} | TARGET_LABELS
        if name in PROMETHEUS_SERIES:
            continue
        for label in labels - allowed:
            fail(f"{where}: {name} has no label `{label}`: {expr}")
        for label, value in pairs:
            if label in LABEL_VALUES and "$" not in value and "|" not in value and "*" not in value:
                if value not in LABEL_VALUES[label]:
                    fail(f"{where}: {label}=\"{value}\" is not one of {sorted(LABEL_VALUES[label])}")
            if label == "stage" and "$" not in value and "|" not in value and "*" not in value:
                if value not in (BATCH_STAGES if name.startswith("ledgerflow_batch_stage_seconds") else SUPERVISOR_STAGES):
                    fail(f"{where}: {name}{{stage=\"{value}\"}} is not a stage that metric has")
    return names, [(n, l) for n, l, _ in selectors]


def check_names(names: set[str], allowed: set[str], where: str, expr: str) -> None:
    for name in sorted(names - allowed):
        hint = ""
        if name in HISTOGRAMS:
            hint = " (a histogram: use its _bucket, _sum or _count series)"
        fail(f"{where}: metric `{name}` is not one ledgerflow exports{hint}: {expr}")


def write_rules_file(exprs: list[tuple[str, str]], path: Path) -> None:
    """The expressions as recording rules, so that `promtool check rules` parses every one."""
    rules = []
    for i, (where, expr) in enumerate(exprs):
        rules.append({"record": f"dashboard:expr_{i:03d}", "expr": promql_for_parsing(expr)})
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-expressions", "rules": rules}]}, sort_keys=False))


def dashboard(rules_out: str | None = None) -> None:
    path = DEPLOY / "grafana/dashboards/ledgerflow.json"
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        fail(f"{rel(path)} is not valid JSON: {err}")
        finish("")
    for key in ("uid", "title", "panels", "schemaVersion", "templating"):
        if key not in dash:
            fail(f"{rel(path)}: no `{key}`")
    panels = dash.get("panels", [])
    flat = []
    for p in panels:
        flat.append(p)
        flat.extend(p.get("panels", []))
    ids = [p.get("id") for p in flat]
    if len(ids) != len(set(ids)) or None in ids:
        fail(f"{rel(path)}: panel ids must be present and unique: {ids}")
    # Grid: inside 24 columns, no two panels overlapping.
    cells: dict[tuple[int, int], str] = {}
    for p in flat:
        g = p.get("gridPos") or {}
        title = p.get("title", "?")
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            fail(f"{rel(path)}: panel {title!r} has no complete gridPos")
            continue
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
            fail(f"{rel(path)}: panel {title!r} does not fit the 24-column grid: {g}")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    fail(f"{rel(path)}: panels {cells[(x, y)]!r} and {title!r} overlap")
                    break
                cells[(x, y)] = title
            else:
                continue
            break
    known_types = {"row", "timeseries", "stat", "state-timeline", "gauge", "bargauge", "table", "text", "heatmap"}
    exprs: list[tuple[str, str]] = []
    used: set[str] = set()
    for p in flat:
        title = p.get("title", "?")
        if p.get("type") not in known_types:
            fail(f"{rel(path)}: panel {title!r} has an unexpected type {p.get('type')!r}")
        if p.get("type") == "row":
            continue
        targets = p.get("targets") or []
        if not targets:
            fail(f"{rel(path)}: panel {title!r} has no query")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)) or None in refs:
            fail(f"{rel(path)}: panel {title!r}: refIds must be present and unique")
        for t in targets:
            ds = t.get("datasource") or p.get("datasource") or {}
            if ds.get("uid") not in ("${datasource}", "prometheus"):
                fail(f"{rel(path)}: panel {title!r} queries data source {ds!r}, not the Prometheus one")
            expr = t.get("expr")
            if not expr:
                fail(f"{rel(path)}: panel {title!r} target {t.get('refId')} has no expr")
                continue
            where = f"dashboard panel {title!r}"
            names, _ = promql_uses(expr, where)
            check_names(names, METRICS, where, expr)
            used |= names
            exprs.append((where, expr))
    # Template variables.
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        m = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)\s*", query or "")
        if not m:
            fail(f"{rel(path)}: variable {var.get('name')!r}: expected label_values(metric, label), got {query!r}")
            continue
        check_names({m.group(1)}, METRICS, f"dashboard variable {var.get('name')!r}", query)
        used.add(m.group(1))
    # Coverage: every exported metric is on the dashboard somewhere.
    exported = COUNTERS | GAUGES | HISTOGRAMS
    def base(name: str) -> str:
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
                return name[: -len(suffix)]
        return name

    covered = {base(n) for n in used}
    for name in sorted(exported - covered):
        fail(f"{rel(path)}: metric {name} is on no panel")
    if rules_out:
        write_rules_file(exprs, Path(rules_out))
    finish(f"grafana dashboard: valid JSON, {len(flat)} panels on a non-overlapping grid, {len(exprs)} PromQL "
           f"expressions parse and use only the {len(exported)} exported metrics (all of them covered)")


def alerts() -> None:
    path = DEPLOY / "prometheus/alerts.yml"
    doc = load_yaml(path)
    count = 0
    used: set[str] = set()
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            where = f"alert {name}"
            names, _ = promql_uses(rule["expr"], where)
            check_names(names, METRICS | PROMETHEUS_SERIES, where, rule["expr"])
            used |= names
            count += 1
            if "alert" in rule:
                if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                    fail(f"{where}: labels.severity must be critical, warning or info")
                for key in ("summary", "description"):
                    if not rule.get("annotations", {}).get(key):
                        fail(f"{where}: no annotations.{key}")
    # The tests must exercise every alert.
    tests = load_yaml(DEPLOY / "prometheus/alerts.test.yml")
    tested = {case["alertname"] for t in tests.get("tests", []) for case in t.get("alert_rule_test", [])
              if case.get("exp_alerts")}
    defined = {r["alert"] for g in doc.get("groups", []) for r in g.get("rules", []) if "alert" in r}
    for name in sorted(defined - tested):
        fail(f"alerts.test.yml has no test in which {name} fires")
    finish(f"alert rules: {count} expressions use only exported metrics (and `up`); every alert has a firing test")


# --- Configuration keys -----------------------------------------------------------------------

def reference_keys() -> dict[str, object]:
    """Every key of config/ledgerflow.toml, set or commented out: dotted path -> default (None if unset)."""
    path = REPO / "config/ledgerflow.toml"
    text = path.read_text(encoding="utf-8")
    keys: dict[str, object] = {}

    def flatten(prefix: str, table: dict) -> None:
        for k, v in table.items():
            if isinstance(v, dict):
                flatten(f"{prefix}{k}.", v)
            else:
                keys[f"{prefix}{k}"] = v

    flatten("", tomllib.loads(text))
    section = ""
    for line in text.splitlines():
        m = re.match(r"^\s*\[([A-Za-z0-9_.]+)\]\s*$", line)
        if m:
            section = m.group(1) + "."
            continue
        m = re.match(r"^#\s?([a-z][a-z0-9_]*)\s*=\s*\S", line)
        if m:
            keys.setdefault(section + m.group(1), None)
    return keys


def check_env_name(name: str, known: dict, where: str, notes: list[str]) -> None:
    if not name.startswith("LEDGERFLOW_") or "__" not in name:
        return  # not configuration (the service ignores it)
    key = ".".join(part.lower() for part in name[len("LEDGERFLOW_"):].split("__"))
    if key in known:
        return
    if key in PENDING_CONFIG_KEYS:
        note = f"{key} (set as {name}) is not in config/ledgerflow.toml yet (being implemented)"
        if note not in notes:
            notes.append(note)
        return
    fail(f"{where}: {name} names no configuration key ({key}); the service refuses unknown keys")


def deploy_env() -> dict[str, list[tuple[str, str]]]:
    """LEDGERFLOW_*/OTEL_* variables each deploy target sets: where -> [(name, value)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    # Dockerfile ENV (the `ENV a=b \` form).
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    env = []
    for line in text.splitlines():
        if line.startswith("ENV "):
            env += re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line[4:])
    out["deploy/Dockerfile"] = env
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    out["deploy/docker-compose.yml"] = [(k, str(v)) for k, v in
                                        (compose["services"]["ledgerflow"].get("environment") or {}).items()]
    sts = load_yaml(DEPLOY / "k8s/statefulset.yaml")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    out["deploy/k8s/statefulset.yaml"] = [(e["name"], str(e.get("value", ""))) for e in container.get("env", [])]
    unit = (DEPLOY / "systemd/ledgerflow.service").read_text(encoding="utf-8")
    out["deploy/systemd/ledgerflow.service"] = re.findall(r"^Environment=([A-Z_][A-Z0-9_]*)=(.*)$", unit, re.M)
    example = (DEPLOY / "systemd/ledgerflow.env.example").read_text(encoding="utf-8")
    out["deploy/systemd/ledgerflow.env.example"] = re.findall(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", example, re.M)
    return out


def config() -> None:
    known = reference_keys()
    notes: list[str] = []
    # The ConfigMap's TOML: parses, every key known, values of the default's type.
    cm_path = DEPLOY / "k8s/configmap.yaml"
    cm = load_yaml(cm_path)
    try:
        cm_toml = tomllib.loads(cm["data"]["ledgerflow.toml"])
    except (KeyError, tomllib.TOMLDecodeError) as err:
        fail(f"{rel(cm_path)}: data.ledgerflow.toml is missing or not TOML: {err}")
        finish("")
    flat: dict[str, object] = {}

    def flatten(prefix, table):
        for k, v in table.items():
            if isinstance(v, dict):
                flatten(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    flatten("", cm_toml)
    for key, value in flat.items():
        if key not in known:
            if key in PENDING_CONFIG_KEYS:
                notes.append(f"{key} is not in config/ledgerflow.toml yet (being implemented)")
                continue
            fail(f"{rel(cm_path)}: unknown configuration key {key} (the service refuses unknown keys)")
            continue
        default = known[key]
        if default is not None and type(default) is not type(value):
            fail(f"{rel(cm_path)}: {key} = {value!r} is a {type(value).__name__}, the default is a {type(default).__name__}")
    if flat.get("archive.root") != "/var/lib/ledgerflow/data":
        fail(f"{rel(cm_path)}: archive.root must be /var/lib/ledgerflow/data (the volume), not {flat.get('archive.root')!r}")
    # Environment variable names of every target.
    env = deploy_env()
    total = 0
    for where, pairs in env.items():
        for name, _ in pairs:
            check_env_name(name, known, where, notes)
            total += name.startswith("LEDGERFLOW_") and "__" in name
        names = {n for n, _ in pairs}
        if where != "deploy/systemd/ledgerflow.env.example":
            for required in ("LEDGERFLOW_SERVICE__HTTP_ADDR",):
                if required not in names:
                    fail(f"{where}: does not set {required} (no listener, so no /metrics or probes)")
    # The archive root must be on the data volume everywhere.
    for where, pairs in env.items():
        for name, value in pairs:
            if name == "LEDGERFLOW_ARCHIVE__ROOT" and value != "/var/lib/ledgerflow/data":
                fail(f"{where}: LEDGERFLOW_ARCHIVE__ROOT={value}, expected /var/lib/ledgerflow/data")
            if name == "LEDGERFLOW_SERVICE__HTTP_ADDR" and not value.endswith(":9477"):
                fail(f"{where}: the listener is {value}, but the probes, Services and scrape configs use port 9477")
    finish(f"configuration: the ConfigMap's ledgerflow.toml parses and all its {len(flat)} keys exist in "
           f"config/ledgerflow.toml; {total} LEDGERFLOW_* variables across {len(env)} files name real keys", notes)


# --- Cross-file consistency -------------------------------------------------------------------

def seconds(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    m = re.fullmatch(r"(?:(\d+)min)?\s*(?:(\d+)m(?!s))?\s*(?:(\d+)s)?", str(value).strip())
    if not m or not any(m.groups()):
        raise ValueError(f"not a duration: {value!r}")
    minutes = int(m.group(1) or 0) + int(m.group(2) or 0)
    return minutes * 60 + int(m.group(3) or 0)


def consistency() -> None:
    known = reference_keys()
    drain_ms = known.get("service.shutdown_timeout_ms") or 30000
    cm = tomllib.loads(load_yaml(DEPLOY / "k8s/configmap.yaml")["data"]["ledgerflow.toml"])
    drain_ms = max(drain_ms, cm.get("service", {}).get("shutdown_timeout_ms", drain_ms))
    drain = drain_ms / 1000
    checked = []

    # Kubernetes.
    kust_path = DEPLOY / "k8s/kustomization.yaml"
    kust = load_yaml(kust_path)
    if kust.get("kind") != "Kustomization":
        fail(f"{rel(kust_path)}: kind must be Kustomization")
    resources = kust.get("resources") or []
    docs = {}
    for res in resources:
        path = kust_path.parent / res
        if not path.is_file():
            fail(f"{rel(kust_path)}: resource {res} does not exist")
            continue
        for d in load_yaml_all(path):
            docs[(d.get("kind"), d.get("metadata", {}).get("name"))] = d
    listed = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    for name in sorted(listed - set(resources)):
        fail(f"{rel(kust_path)}: {name} is in deploy/k8s but not in resources")
    for (kind, name), d in docs.items():
        ns = d.get("metadata", {}).get("namespace")
        if ns and ns != kust.get("namespace"):
            fail(f"{kind}/{name}: namespace {ns} differs from the kustomization's {kust.get('namespace')}")
    sts = docs.get(("StatefulSet", "ledgerflow"))
    if not sts:
        fail("no StatefulSet ledgerflow among the kustomization's resources")
        finish("")
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    if spec.get("replicas") != 1:
        fail("StatefulSet replicas must be 1 (one writer per stream)")
    if pod.get("terminationGracePeriodSeconds", 30) <= drain:
        fail(f"terminationGracePeriodSeconds must exceed the drain timeout ({drain:g} s)")
    sc = pod.get("securityContext", {})
    if sc.get("runAsUser") != 10001 or sc.get("fsGroup") != 10001 or not sc.get("runAsNonRoot"):
        fail("pod securityContext must run as 10001 with fsGroup 10001 and runAsNonRoot")
    if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
        fail("container securityContext must set readOnlyRootFilesystem")
    probes = {k: container.get(k, {}).get("httpGet", {}) for k in ("livenessProbe", "readinessProbe", "startupProbe")}
    if probes["livenessProbe"].get("path") != "/health" or probes["readinessProbe"].get("path") != "/ready":
        fail("liveness must GET /health and readiness /ready")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if ports.get("http") != 9477:
        fail("the container must name port 9477 `http`")
    for probe in probes.values():
        if probe and probe.get("port") not in ("http", 9477):
            fail(f"a probe uses port {probe.get('port')}, not the http port")
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if mounts.get("/var/lib/ledgerflow") not in claims:
        fail("/var/lib/ledgerflow must be mounted from a volumeClaimTemplate")
    if "/tmp" not in mounts:
        fail("with a read-only root filesystem, /tmp needs a writable volume")
    config_mount = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/etc/ledgerflow"]
    if not config_mount or "/etc/ledgerflow/ledgerflow.toml" not in container.get("args", []):
        fail("the ConfigMap must be mounted at /etc/ledgerflow and passed as --config /etc/ledgerflow/ledgerflow.toml")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    cm_name = volumes.get("config", {}).get("configMap", {}).get("name")
    if ("ConfigMap", cm_name) not in docs:
        fail(f"the config volume refers to ConfigMap {cm_name}, which the kustomization does not define")
    if spec.get("serviceName") and ("Service", spec["serviceName"]) not in docs:
        fail(f"serviceName {spec['serviceName']} is not a Service of the kustomization")
    labels = spec["template"]["metadata"]["labels"]
    for (kind, name), d in docs.items():
        if kind == "Service":
            sel = d["spec"].get("selector", {})
            if any(labels.get(k) != v for k, v in sel.items()):
                fail(f"Service {name} selects {sel}, which the pod labels {labels} do not match")
            for p in d["spec"].get("ports", []):
                if p.get("targetPort") not in ("http", 9477):
                    fail(f"Service {name} targets port {p.get('targetPort')}")
    svc = docs.get(("Service", "ledgerflow"), {})
    ann = svc.get("metadata", {}).get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "9477":
        fail("Service ledgerflow needs prometheus.io/scrape: \"true\" and prometheus.io/port: \"9477\"")
    checked.append("kubernetes (kustomization resources exist, selectors, ports, probes, volumes, grace period)")

    # Compose.
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    services = compose.get("services", {})
    for name, svc in services.items():
        image = svc.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        if not tag or tag == "latest":
            fail(f"compose service {name}: image {image!r} must be pinned to a version tag")
    lf = services.get("ledgerflow", {})
    build = lf.get("build", {})
    context = (DEPLOY / build.get("context", ".")).resolve()
    if context != REPO or not (context / build.get("dockerfile", "Dockerfile")).resolve() == (DEPLOY / "Dockerfile"):
        fail("compose ledgerflow.build must use the repository root as context and deploy/Dockerfile")
    if seconds(lf.get("stop_grace_period", "10s")) <= drain:
        fail(f"compose ledgerflow.stop_grace_period must exceed the drain timeout ({drain:g} s)")
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if source.startswith("."):
                if not (DEPLOY / source).exists():
                    fail(f"compose service {name} mounts {source}, which does not exist under deploy/")
    env = lf.get("environment", {})
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if endpoint != "http://jaeger:4317" or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") != "grpc":
        fail("compose ledgerflow must export OTLP/gRPC to http://jaeger:4317")
    jaeger_ports = {str(p).split(":")[-1] for p in services.get("jaeger", {}).get("ports", [])}
    for port in ("16686", "4317", "4318"):
        if port not in jaeger_ports:
            fail(f"compose jaeger does not publish {port}")
    checked.append("compose (pinned images, build context, mounts exist, grace period, OTLP to jaeger:4317)")

    # Prometheus scrape target = compose service and port.
    prom = load_yaml(DEPLOY / "prometheus/prometheus.yml")
    targets = [t for job in prom.get("scrape_configs", []) if job.get("job_name") == "ledgerflow"
               for sc_ in job.get("static_configs", []) for t in sc_.get("targets", [])]
    if targets != ["ledgerflow:9477"]:
        fail(f"prometheus.yml job ledgerflow must scrape ledgerflow:9477, scrapes {targets}")
    if "alerts.yml" not in prom.get("rule_files", []):
        fail("prometheus.yml must load alerts.yml")
    # Grafana provisioning: data source uid used by the dashboard, provider path = compose mount.
    ds = load_yaml(DEPLOY / "grafana/provisioning/datasources/datasources.yml")
    uids = {d.get("uid"): d for d in ds.get("datasources", [])}
    if uids.get("prometheus", {}).get("url") != "http://prometheus:9090" or ds.get("apiVersion") != 1:
        fail("datasources.yml: apiVersion 1 and a Prometheus data source uid `prometheus` at http://prometheus:9090")
    prov = load_yaml(DEPLOY / "grafana/provisioning/dashboards/dashboards.yml")
    paths = [p.get("options", {}).get("path") for p in prov.get("providers", [])]
    grafana_mounts = {v.split(":")[1]: v.split(":")[0] for v in services.get("grafana", {}).get("volumes", []) if isinstance(v, str)}
    if prov.get("apiVersion") != 1 or not paths or any(grafana_mounts.get(p) != "./grafana/dashboards" for p in paths):
        fail(f"dashboards.yml: provider paths {paths} must be where compose mounts ./grafana/dashboards")
    checked.append("prometheus/grafana wiring (scrape target, rule file, data source uid, dashboard path)")

    # systemd.
    unit = (DEPLOY / "systemd/ledgerflow.service").read_text(encoding="utf-8")
    m = re.search(r"^TimeoutStopSec=(\S+)$", unit, re.M)
    if not m or seconds(m.group(1)) <= drain:
        fail(f"ledgerflow.service: TimeoutStopSec must exceed the drain timeout ({drain:g} s)")
    for needle in ("User=ledgerflow", "StateDirectory=ledgerflow", "KillSignal=SIGTERM", "Restart=on-failure",
                   "EnvironmentFile=-/etc/ledgerflow/ledgerflow.env",
                   "ExecStart=/usr/local/bin/ledgerflow run --config /etc/ledgerflow/ledgerflow.toml --follow"):
        if not re.search(rf"^{re.escape(needle)}$", unit, re.M):
            fail(f"ledgerflow.service: no `{needle}` line")
    sysusers = (DEPLOY / "systemd/ledgerflow.sysusers").read_text(encoding="utf-8")
    if not re.search(r"^u ledgerflow 10001:10001 ", sysusers, re.M):
        fail("ledgerflow.sysusers must create user ledgerflow with uid/gid 10001")
    checked.append("systemd (stop timeout, user, state directory, env file)")

    # Dockerfile.
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    toolchain = tomllib.loads((REPO / "rust-toolchain.toml").read_text())["toolchain"]["channel"]
    m = re.search(r"^ARG RUST_VERSION=(\S+)$", dockerfile, re.M)
    if not m or m.group(1) != toolchain:
        fail(f"Dockerfile ARG RUST_VERSION={m.group(1) if m else '?'} must equal rust-toolchain.toml's {toolchain}")
    for needle in ("USER 10001:10001", 'VOLUME ["/var/lib/ledgerflow"]', "EXPOSE 9477", "STOPSIGNAL SIGTERM",
                   'CMD ["run", "--config", "/etc/ledgerflow/ledgerflow.toml", "--follow"]'):
        if needle not in dockerfile:
            fail(f"Dockerfile: no `{needle}`")
    if "cargo build --release --locked -p ledgerflow-actors" not in dockerfile:
        fail("Dockerfile: must build with cargo build --release --locked -p ledgerflow-actors")
    # COPY sources exist and survive the .dockerignore; build inputs are in the context.
    ignore = dockerignore_patterns(DEPLOY / "Dockerfile.dockerignore")
    sources = re.findall(r"^COPY\s+(?:--chmod=\S+\s+)?(?!--from)(\S+)\s+\S+$", dockerfile, re.M)
    for src in sources:
        if src == ".":
            continue
        if not (REPO / src).exists():
            fail(f"Dockerfile copies {src}, which does not exist")
        elif dockerignored(src, ignore):
            fail(f"Dockerfile copies {src}, but Dockerfile.dockerignore excludes it")
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    members = cargo.get("workspace", {}).get("members", [])
    needed = ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "src/lib.rs"]
    needed += [f"{m}/Cargo.toml" for m in members if m != "."]
    for manifest in [REPO / "Cargo.toml"] + [REPO / m / "Cargo.toml" for m in members if m != "."]:
        data = tomllib.loads(manifest.read_text())
        base = manifest.parent.relative_to(REPO)
        for kind, folder in (("bench", "benches"), ("test", "tests"), ("bin", "src/bin"), ("example", "examples")):
            for target in data.get(kind, []):
                needed.append(str(base / (target.get("path") or f"{folder}/{target['name']}.rs")))
    for path in needed:
        path = os.path.normpath(path)
        if (REPO / path).exists() and dockerignored(path, ignore):
            fail(f"Dockerfile.dockerignore excludes {path}, which cargo needs")
    for path in ("target/release/ledgerflow", "ledgerflow-data/x", ".git/HEAD"):
        if not dockerignored(path, ignore):
            fail(f"Dockerfile.dockerignore does not exclude {path.split('/')[0]}/")
    checked.append("Dockerfile (toolchain = rust-toolchain.toml, COPY sources kept by the .dockerignore, "
                   "every cargo target of the workspace in the context)")
    finish("consistency: " + "; ".join(checked))


def dockerignore_patterns(path: Path) -> list[tuple[bool, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip().lstrip("/"))
        out.append((negate, pattern))
    return out


def pattern_matches(pattern: str, path: str) -> bool:
    """Docker's matching: Go filepath.Match per path segment, plus `**` for any number of segments."""
    pat = pattern.split("/")
    parts = path.split("/")

    def match(i: int, j: int) -> bool:
        if i == len(pat):
            return j == len(parts)
        if pat[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(parts) + 1))
        return j < len(parts) and fnmatchcase(parts[j], pat[i]) and match(i + 1, j + 1)

    return match(0, 0)


def dockerignored(path: str, patterns: list[tuple[bool, str]]) -> bool:
    """True if `path` is left out of the context: a pattern matching the path or a parent excludes
    it, the last matching pattern wins."""
    parts = path.split("/")
    excluded = False
    for negate, pattern in patterns:
        if any(pattern_matches(pattern, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


# --- The health check script ------------------------------------------------------------------

def healthcheck() -> None:
    script = DEPLOY / "docker/healthcheck.sh"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            code = {"/health": 200, "/ready": 503}.get(self.path, 404)
            body = b"ok\n" if code == 200 else b"no\n"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # the script hangs up after the status line; a broken pipe here is expected

    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]

    def run(args, env):
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        full.update(env)
        return subprocess.run(["bash", str(script), *args], env=full, capture_output=True, text=True, timeout=15)

    cases = [
        ("/health answering 200", ["/health"], {"LEDGERFLOW_HEALTHCHECK_ADDR": f"127.0.0.1:{port}"}, 0),
        ("the default path", [], {"LEDGERFLOW_HEALTHCHECK_ADDR": f"127.0.0.1:{port}"}, 0),
        ("a wildcard listen address", ["/health"], {"LEDGERFLOW_SERVICE__HTTP_ADDR": f"0.0.0.0:{port}"}, 0),
        ("/ready answering 503", ["/ready"], {"LEDGERFLOW_SERVICE__HTTP_ADDR": f"0.0.0.0:{port}"}, 1),
        ("nothing listening", ["/health"], {"LEDGERFLOW_HEALTHCHECK_ADDR": f"127.0.0.1:{closed_port}"}, 1),
    ]
    try:
        for label, args, env, expected in cases:
            result = run(args, env)
            if result.returncode != expected:
                fail(f"healthcheck.sh with {label}: exit {result.returncode}, expected {expected}: {result.stderr.strip()}")
    finally:
        server.shutdown()
    finish(f"healthcheck.sh: {len(cases)} cases against a local HTTP server (200 -> 0; 503, refused -> 1)")


# --- Optional: the real binary ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 3.0):
    """Status, body and headers (an email.message.Message: header names are case-insensitive)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace"), r.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace"), err.headers


def smoke(binary: str, promtool: str) -> None:
    """Runs ledgerflow itself: `validate` on the ConfigMap's file with the StatefulSet's variables,
    then `run --follow` on loopback with the synthetic source, checking the HTTP endpoints, the
    metric names the dashboard and alerts use, and a clean SIGTERM exit within the drain timeout."""
    binary = str(Path(binary).resolve())
    cm = load_yaml(DEPLOY / "k8s/configmap.yaml")["data"]["ledgerflow.toml"]
    with tempfile.TemporaryDirectory(prefix="ledgerflow-smoke-") as tmp:
        tmp_path = Path(tmp)
        conf = tmp_path / "ledgerflow.toml"
        conf.write_text(cm.replace('root = "/var/lib/ledgerflow/data"', f'root = "{tmp_path / "data"}"'))
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERFLOW_", "OTEL_"))}
        sts_env = {n: v for n, v in deploy_env()["deploy/k8s/statefulset.yaml"]
                   if n.startswith("LEDGERFLOW_")}
        sts_env["LEDGERFLOW_ARCHIVE__ROOT"] = str(tmp_path / "data")
        r = subprocess.run([binary, "validate", "--config", str(conf)], env={**base_env, **sts_env},
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            fail(f"`ledgerflow validate` rejects the ConfigMap's file with the StatefulSet's variables: "
                 f"{(r.stderr or r.stdout).strip()}")
            finish("")
        port = free_port()
        env = {**base_env, **sts_env,
               "LEDGERFLOW_SERVICE__HTTP_ADDR": f"127.0.0.1:{port}",
               "LEDGERFLOW_SOURCE__KIND": "synthetic",
               "LEDGERFLOW_SOURCE__CADENCE_MS": "200",
               "LEDGERFLOW_SOURCE__LEDGERS": "200",
               "LEDGERFLOW_SOURCE__TRANSACTIONS_PER_LEDGER": "10",
               "LEDGERFLOW_SERVICE__LOG_FORMAT": "human"}
        log = open(tmp_path / "ledgerflow.log", "w")
        proc = subprocess.Popen([binary, "run", "--config", str(conf), "--follow"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=tmp)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    status = get(base + "/health")[0]
                    if status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.5)
            if status != 200:
                fail(f"/health did not answer 200 within 60 s (last: {status}, exit code {proc.poll()}); "
                     f"log: {(tmp_path / 'ledgerflow.log').read_text()[-2000:]}")
                finish("")
            # Let a few batches through, then read the metrics.
            time.sleep(5)
            code, metrics, headers = get(base + "/metrics")
            if code != 200:
                fail(f"/metrics answered {code}")
            ctype = headers.get("Content-Type", "")
            if not ctype.startswith(("text/plain", "application/openmetrics-text")):
                fail(f"/metrics Content-Type is {ctype!r}: Prometheus 3 refuses to scrape without a valid one")
            present = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\s)", metrics, re.M))
            for name in sorted(METRICS - present):
                fail(f"/metrics does not expose {name}")
            for line in metrics.splitlines():
                if line.startswith("ledgerflow_") and 'stream="' not in line:
                    fail(f"/metrics: a series without the stream label: {line}")
                    break
            lint = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True, text=True,
                                  timeout=30)
            if lint.returncode != 0:
                fail(f"promtool check metrics: {(lint.stdout + lint.stderr).strip()}")
            code, body, _ = get(base + "/status")
            try:
                json.loads(body)
            except json.JSONDecodeError:
                fail(f"/status is not JSON ({code}): {body[:200]}")
            code, _, _ = get(base + "/ready")
            if code not in (200, 503):
                fail(f"/ready answered {code}, expected 200 or 503")
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=45)
                if rc != 0:
                    fail(f"exit code {rc} after SIGTERM, expected 0")
            except subprocess.TimeoutExpired:
                fail("still running 45 s after SIGTERM")
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    finish(f"smoke test of {binary}: validate, /health, /ready, /status, /metrics ({len(METRICS)} metric names, "
           f"promtool check metrics), SIGTERM exit 0 in {took:.1f} s")


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    check, args = sys.argv[1], sys.argv[2:]
    checks = {"dashboard": dashboard, "alerts": alerts, "config": config, "consistency": consistency,
              "healthcheck": healthcheck, "smoke": smoke}
    if check not in checks:
        sys.exit(f"unknown check {check!r}; one of {', '.join(checks)}")
    checks[check](*args)


if __name__ == "__main__":
    main()
