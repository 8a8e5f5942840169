#!/usr/bin/env python3
"""Checks that deploy/ agrees with the code and the docs, for deploy/check.sh.

- Every alert in prometheus/alerts.yml has a summary, a description and a
  runbook_url whose anchor is a heading of docs/operations.md, and a test in
  prometheus/alerts_test.yml where it fires and one where it does not.
- grafana/meridian.json is a dashboard whose panels all use the datasource
  variable and have unique ids.
- Every meridian_* metric the alerts and the dashboard query is one that
  metrics/*.go defines.
- Every dashboard query is valid PromQL: they are written, with Grafana's
  variables replaced, to a rules file that `promtool check rules` parses.

Usage: crosscheck.py REPO_ROOT PROMTOOL
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

problems = []


def problem(msg):
    problems.append(msg)


def github_anchor(heading):
    """Returns the anchor GitHub gives a Markdown heading."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def defined_metrics(root):
    """Returns the metric names metrics/*.go registers, with the series
    names a histogram adds."""
    names = set()
    mdir = os.path.join(root, "metrics")
    for f in os.listdir(mdir):
        if not f.endswith(".go") or f.endswith("_test.go"):
            continue
        src = open(os.path.join(mdir, f)).read()
        for m in re.finditer(r'(?:Name:\s*|NewDesc\(\s*)"(meridian_[a-z0-9_]+)"', src):
            names.add(m.group(1))
        histograms = re.findall(r'NewHistogram(?:Vec)?\(prometheus\.HistogramOpts\{\s*Name:\s*"(meridian_[a-z0-9_]+)"', src)
        # metrics.NewHistogram, the batch-observing histogram, takes its name first.
        histograms += re.findall(r'\bNewHistogram\(\s*"(meridian_[a-z0-9_]+)"', src)
        for name in histograms:
            names.add(name)
            for suffix in ("_bucket", "_count", "_sum"):
                names.add(name + suffix)
    return names


def metrics_in(expr):
    return set(re.findall(r"\b(meridian_[a-z0-9_]+)\b", expr))


def check_alerts(root, known):
    rules = yaml.safe_load(open(os.path.join(root, "deploy/prometheus/alerts.yml")))
    tests = yaml.safe_load(open(os.path.join(root, "deploy/prometheus/alerts_test.yml")))
    docs = open(os.path.join(root, "docs/operations.md")).read()
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.*)$", docs, re.M)}
    recorded = set()
    alerts = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                recorded.add(rule["record"])
            else:
                alerts.append(rule)
            for name in metrics_in(rule["expr"]) - known:
                problem("alerts.yml: %s queries %s, which Meridian does not export" % (rule.get("alert", rule.get("record")), name))
    before = len(problems)
    fires, quiet = set(), set()
    for case in tests["tests"]:
        for t in case.get("alert_rule_test", []):
            (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
    for rule in alerts:
        name = rule["alert"]
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                problem("alerts.yml: %s has no %s" % (name, key))
        url = ann.get("runbook_url", "")
        if "docs/operations.md#" not in url:
            problem("alerts.yml: %s: runbook_url %r does not point into docs/operations.md" % (name, url))
        elif url.split("#", 1)[1] not in anchors:
            problem("alerts.yml: %s: docs/operations.md has no heading with anchor #%s" % (name, url.split("#", 1)[1]))
        if name not in fires:
            problem("alerts_test.yml: no case where %s fires" % name)
        if name not in quiet:
            problem("alerts_test.yml: no case where %s does not fire" % name)
    if len(problems) == before:
        print("alerts: %d alerts, %d recording rules; each has annotations, a runbook section and firing and quiet tests"
              % (len(alerts), len(recorded)))
    return recorded


def grafana_exprs(root, known):
    path = os.path.join(root, "deploy/grafana/meridian.json")
    dash = json.load(open(path))
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problem("meridian.json: no Prometheus datasource variable named datasource")
    before = len(problems)
    exprs = []
    ids = set()

    def uses_variable(obj, where):
        if not isinstance(obj, dict) or obj.get("uid") != "${datasource}":
            problem("meridian.json: %s does not use the ${datasource} variable" % where)

    for v in variables.values():
        if v.get("type") == "query":
            uses_variable(v.get("datasource"), "variable " + v["name"])
            exprs.append(("variable " + v["name"], re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", v["definition"])))
    for p in dash["panels"]:
        if p["id"] in ids:
            problem("meridian.json: panel id %d is used twice" % p["id"])
        ids.add(p["id"])
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            problem("meridian.json: panel %r is wider than the dashboard" % p["title"])
        if p["type"] == "row":
            continue
        uses_variable(p.get("datasource"), "panel %r" % p["title"])
        if not p.get("targets"):
            problem("meridian.json: panel %r has no queries" % p["title"])
        for t in p.get("targets", []):
            uses_variable(t.get("datasource"), "a query of panel %r" % p["title"])
            exprs.append(("panel %r" % p["title"], t["expr"]))
    for where, expr in exprs:
        for name in metrics_in(expr) - known:
            problem("meridian.json: %s queries %s, which Meridian does not export" % (where, name))
    if len(problems) == before:
        print("dashboard: %d panels, %d queries, datasource variable on every one, known metrics only"
              % (len(dash["panels"]), len(exprs)))
    return exprs


def check_promql(exprs, promtool):
    """Parses each query with promtool, Grafana's variables replaced."""
    rules = []
    for i, (where, expr) in enumerate(exprs):
        e = expr.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$__interval", "1m")
        e = re.sub(r"\$\{?(\w+)\}?", "x", e)
        rules.append({"record": "dashboard:query_%d" % i, "expr": e})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    try:
        r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        problem("meridian.json: promtool rejects a query:\n" + r.stdout + r.stderr)
    else:
        print("dashboard: every query parses as PromQL")


def main():
    root, promtool = sys.argv[1], sys.argv[2]
    known = defined_metrics(root)
    if not known:
        problem("no meridian_* metrics found in metrics/*.go")
    known |= check_alerts(root, known)
    check_promql(grafana_exprs(root, known), promtool)
    for p in problems:
        print("crosscheck:", p, file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
