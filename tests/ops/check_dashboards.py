#!/usr/bin/env python3
"""Static checks of dashboards/: the Grafana dashboard's structure (unique panel ids, no
overlapping grid positions, every panel and query on the $datasource variable, a unit
and a description on every panel, $__rate_interval in its rates), every metric it or a
rule names documented in METRICS.md, every recording rule it uses defined, and every
rule covered by promtool's tests with a runbook section in docs/operations.md."""
import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARDS = sorted(glob.glob(os.path.join(ROOT, "dashboards/grafana/dashboards/*.json")))
RULES = sorted(glob.glob(os.path.join(ROOT, "dashboards/prometheus/rules/*.yml")))
RULE_TESTS = sorted(glob.glob(os.path.join(ROOT, "dashboards/prometheus/tests/*.yml")))
METRIC = re.compile(r"(?<![:\w])((?:ismscode|grpc_server)_[a-z_]+)\b")  # not inside a:b:c
RECORDED = re.compile(r"\b([a-z_]+:[a-z_]+:[a-z0-9_]+)\b")
WINDOW = re.compile(r"\[([^\]]+)\]")

failures = []


def fail(message):
    failures.append(message)


def documented_metrics():
    text = open(os.path.join(ROOT, "METRICS.md"), encoding="utf-8").read()
    return set(re.findall(r"`((?:ismscode|grpc_server)_[a-z_]+)`", text))


def base_metric(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)].endswith(("_seconds",)):
            return name[: -len(suffix)]
    return name


def panels_of(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def overlaps(a, b):
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and
            a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def check_dashboard(path, metrics, recorded):
    name = os.path.relpath(path, ROOT)
    d = json.load(open(path, encoding="utf-8"))
    if not d.get("uid") or d.get("schemaVersion", 0) < 36:
        fail(f"{name}: needs a uid and a current schemaVersion (>= 36)")
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        fail(f"{name}: no $datasource variable")
    ids, boxes = set(), []
    for panel in panels_of(d):
        where = f"{name}: panel {panel.get('id')} ({panel.get('title')!r})"
        if panel.get("id") in ids:
            fail(f"{where}: duplicate id")
        ids.add(panel.get("id"))
        box = panel["gridPos"]
        if box["x"] < 0 or box["x"] + box["w"] > 24:
            fail(f"{where}: outside the 24-column grid")
        for other_where, other in boxes:
            if overlaps(box, other):
                fail(f"{where}: overlaps {other_where}")
        boxes.append((where, box))
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"{where}: not on the $datasource variable")
        if not panel.get("description", "").strip():
            fail(f"{where}: no description")
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            fail(f"{where}: no unit")
        if not panel.get("targets"):
            fail(f"{where}: no query")
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            if target.get("datasource", {}).get("uid") != "${datasource}":
                fail(f"{where}: a query not on the $datasource variable")
            for window in WINDOW.findall(expr):
                if window not in ("$__rate_interval", "$__range"):
                    fail(f"{where}: window [{window}]: use $__rate_interval (or $__range)")
            for metric in METRIC.findall(expr):
                if base_metric(metric) not in metrics:
                    fail(f"{where}: {metric} is not in METRICS.md")
            for rule in RECORDED.findall(expr):
                if rule not in recorded:
                    fail(f"{where}: {rule} is not a recording rule")


def check_rules(metrics):
    recorded, alerts = set(), {}
    for path in RULES:
        for group in yaml.safe_load(open(path, encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                where = f"{os.path.relpath(path, ROOT)}: {rule.get('record') or rule.get('alert')}"
                for metric in METRIC.findall(rule["expr"]):
                    if base_metric(metric) not in metrics:
                        fail(f"{where}: {metric} is not in METRICS.md")
                if "record" in rule:
                    recorded.add(rule["record"])
                else:
                    alerts[rule["alert"]] = rule
                    if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
                        fail(f"{where}: severity must be critical or warning")
                    for key in ("summary", "description", "runbook_url"):
                        if not rule.get("annotations", {}).get(key):
                            fail(f"{where}: no {key}")
    return recorded, alerts


def check_rule_coverage(recorded, alerts):
    tested_exprs, tested_alerts = set(), set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(open(path, encoding="utf-8"))["tests"]:
            tested_exprs |= {t["expr"] for t in test.get("promql_expr_test", [])}
            tested_alerts |= {t["alertname"] for t in test.get("alert_rule_test", [])}
    for rule in sorted(recorded - tested_exprs):
        fail(f"recording rule {rule} has no promtool test")
    for alert in sorted(set(alerts) - tested_alerts):
        fail(f"alert {alert} has no promtool test")
    runbook = open(os.path.join(ROOT, "docs/operations.md"), encoding="utf-8").read()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    for alert, rule in sorted(alerts.items()):
        anchor = rule["annotations"]["runbook_url"].partition("#")[2]
        if anchor not in anchors:
            fail(f"alert {alert}: docs/operations.md has no section #{anchor}")


metrics = documented_metrics()
recorded, alerts = check_rules(metrics)
for path in DASHBOARDS:
    check_dashboard(path, metrics, recorded)
check_rule_coverage(recorded, alerts)
if not DASHBOARDS:
    fail("no dashboard under dashboards/grafana/dashboards")
for f in failures:
    print(f)
print(f"{len(DASHBOARDS)} dashboard(s), {len(recorded)} recording rules, {len(alerts)} alerts: "
      f"{len(failures)} problem(s)")
sys.exit(1 if failures else 0)
