"""Ferry's alerts on itself (imported by validate_deploy.py).

- deploy/prometheus/prometheus.yml: `promtool check config` (it loads the rule file).
- deploy/prometheus/ferry-rules.yaml: `promtool check rules` and `promtool test rules
  deploy/prometheus/ferry-rules.test.yaml` (promtool from Debian's `prometheus` package); every
  alert has a severity, a summary, a description and a runbook_url naming a page of
  docs/runbooks/ that exists and is listed in docs/runbooks/README.md; every alert is unit
  tested; every ferry_* family a rule uses is in the README's Metrics table and charted on the
  Grafana dashboard.
- k8s: the rendered PrometheusRule carries exactly the groups of the rule file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "ferry-rules.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "ferry-rules.test.yaml"
PROMETHEUSRULE = ROOT / "k8s" / "base" / "prometheusrule.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks"
SEVERITIES = {"critical", "warning", "none"}


def alerts(groups: list[dict]) -> list[dict]:
    return [rule for group in groups for rule in group.get("rules", []) if "alert" in rule]


def ferry_families(expr: str, families: dict[str, str]) -> set[str]:
    """The ferry_* families `expr` reads (histogram suffixes stripped)."""
    found = set()
    for metric in re.findall(r"\bferry_[a-z0-9_]+", expr):
        for suffix in ("_bucket", "_count", "_sum"):
            if metric.endswith(suffix) and metric[: -len(suffix)] in families:
                metric = metric[: -len(suffix)]
        found.add(metric)
    return found


def check_rule_file(groups: list[dict], tests: dict, families: dict[str, str],
                    charted: set[str], report: Any) -> None:
    where = "deploy/prometheus/ferry-rules.yaml"
    listed = (RUNBOOKS / "README.md").read_text() if (RUNBOOKS / "README.md").exists() else ""
    tested = {t.get("alertname") for case in tests.get("tests", [])
              for t in case.get("alert_rule_test", [])}
    names = [rule["alert"] for rule in alerts(groups)]
    report.check(bool(names), f"{where}: no alerts")
    for rule in alerts(groups):
        name = rule["alert"]
        labels = rule.get("labels", {})
        notes = rule.get("annotations", {})
        report.check(labels.get("severity") in SEVERITIES,
                     f"{where}: {name}: severity must be one of {sorted(SEVERITIES)}")
        for key in ("summary", "description", "runbook_url"):
            report.check(bool(notes.get(key)), f"{where}: {name}: no {key} annotation")
        runbook = notes.get("runbook_url", "")
        report.check(runbook.startswith("docs/runbooks/") and (ROOT / runbook).is_file(),
                     f"{where}: {name}: runbook {runbook!r} is no page of docs/runbooks/")
        report.check(Path(runbook).name in listed,
                     f"{where}: {name}: {runbook} is not listed in docs/runbooks/README.md")
        report.check(name in tested,
                     f"{where}: {name} has no unit test in ferry-rules.test.yaml")
        for family in ferry_families(rule.get("expr", ""), families):
            report.check(family in families,
                         f"{where}: {name} uses {family}, which the README's Metrics table "
                         "does not list")
            report.check(family in charted,
                         f"{where}: {name} uses {family}, which no dashboard panel charts")
    report.check(len(names) == len(set(names)), f"{where}: alert names must be unique")


def check_prometheusrule(where: str, objects: list[dict], groups: list[dict],
                         report: Any) -> None:
    found = [o for o in objects if o.get("kind") == "PrometheusRule"]
    if not report.check(len(found) == 1, f"{where}: expected one PrometheusRule"):
        return
    report.check(found[0].get("apiVersion") == "monitoring.coreos.com/v1",
                 f"{where}: PrometheusRule apiVersion must be monitoring.coreos.com/v1")
    report.check(found[0].get("spec", {}).get("groups") == groups,
                 f"{where}: PrometheusRule groups differ from deploy/prometheus/ferry-rules.yaml "
                 "(regenerate: scripts/validate-deploy.sh --write-prometheusrule)")


def promtool(report: Any) -> None:
    tool = shutil.which("promtool")
    if not report.check(tool is not None,
                        "promtool not found: install Debian's prometheus package (.ci/run does)"):
        return
    config = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)],
                 ["check", "config", str(config)]):
        run = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
        report.check(run.returncode == 0,
                     f"promtool {' '.join(args[:2])}: {(run.stdout + run.stderr).strip()}")


def load() -> tuple[list[dict], dict]:
    return (yaml.safe_load(RULES.read_text())["groups"],
            yaml.safe_load(RULE_TESTS.read_text()))


def write_prometheusrule() -> None:
    """Regenerates k8s/base/prometheusrule.yaml from the rule file."""
    groups, _ = load()
    head = "".join(line for line in PROMETHEUSRULE.read_text().splitlines(keepends=True)
                   if line.startswith("#")) if PROMETHEUSRULE.exists() else ""
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "ferry", "labels": {"app.kubernetes.io/part-of": "ferry"}},
            "spec": {"groups": groups}}
    PROMETHEUSRULE.write_text(head + yaml.safe_dump(body, sort_keys=False, width=200))
