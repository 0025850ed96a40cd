#!/usr/bin/env python3
"""Offline validation of Ferry's deployment material (run by scripts/validate-deploy.sh).

- k8s/: renders k8s/overlays/dev and k8s/overlays/prod with `kubectl kustomize`, validates
  every object against the Kubernetes JSON schemas (kubernetes-validate, strict, for the oldest
  and the newest supported Kubernetes minor) and checks what a schema cannot: probes, resources,
  security context, graceful termination against the services' drain time, references to
  ConfigMaps and Secrets, Service/HPA/PDB/NetworkPolicy/ServiceMonitor selectors.
- deploy/docker-compose.yml: the Compose Specification's JSON schema plus cross-file checks
  (env files, admin ports, Prometheus targets, collector pipelines, binaries in the image).
- deploy/Dockerfile: hadolint when installed; the binaries it ships are the workspace's.
- deploy/grafana/ferry-dashboard.json: valid JSON; every metric it queries is a family of the
  README's "Metrics" table; the required views are there.
- KEDA ScaledObjects and TriggerAuthentications: the fields KEDA documents
  (scripts/keda.schema.json) and what they point at: see validate_keda.py.
- the Ingress, the Gateway API HTTPRoute and the ingress NetworkPolicy against the route table
  k8s/base/routes.json: see validate_routes.py.
- deploy/prometheus/ferry-rules.yaml and k8s's PrometheusRule: see validate_alerts.py
  (promtool check and unit tests, runbooks, metric families).
- --self-test (also run by default): breaks a copy of the inputs in known ways and asserts that
  each break is reported, so that the checks above can fail.

Exits 1 on any problem. Needs: python3 with PyYAML, jsonschema, kubernetes-validate and
check-jsonschema (for the vendored compose schema); kubectl (kustomize built in).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

import validate_alerts
import validate_keda
import validate_routes

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = ROOT / "k8s"

SERVICES = [
    "connector-mailchimp",
    "connector-mpluskassa",
    "mapper",
    "order-orchestrator",
    "notifier",
]
AUTOSCALED = {"connector-mailchimp", "connector-mpluskassa", "mapper", "order-orchestrator"}
OVERLAYS = {"dev": "ferry-dev", "prod": "ferry"}
# Kubernetes minors validated against: the oldest with the preStop `sleep` action on by
# default (1.30) and the newest the installed kubernetes-validate knows.
K8S_VERSIONS = ["1.30.0", None]
# Secrets an overlay may reference without generating them (prod: created by operators),
# with the keys k8s/README.md documents.
EXTERNAL_SECRETS = {
    "prod": {
        "ferry-secrets": {"amqp-url", "database-url", "admin-tokens", "credentials-key"},
        "ferry-connector-mailchimp-config": {"config.toml"},
        "ferry-connector-mpluskassa-config": {"config.toml"},
    },
    "dev": {},
}
# FERRY_CREDENTIALS_KEY: `kid:base64(32 bytes)[,kid:base64(32 bytes)...]` (platform::secrets).
KEYRING = re.compile(r"[A-Za-z0-9_-]+:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9_-]+:[A-Za-z0-9+/]{43}=)*")
REQUIRED_SECRET_ENV = {
    "FERRY_BUS__URL",
    "FERRY_DATABASE__URL",
    "FERRY_ADMIN__TOKENS",
}
# Dashboard: a panel must query each of these (what operators need to see).
DASHBOARD_REQUIRED = [
    "ferry_bus_messages_consumed_total",
    "ferry_bus_messages_published_total",
    "ferry_bus_messages_retried_total",
    "ferry_bus_messages_dead_lettered_total",
    "ferry_api_calls_total",
    "ferry_api_call_seconds",
    "ferry_saga_step_seconds",
    "ferry_outbox_pending",
    "ferry_inbox_duplicates_total",
    "ferry_parked_messages",
    "ferry_alerts_open",
    "ferry_sagas_failed",
    "ferry_poll_last_success_timestamp_seconds",
    "ferry_db_pool_connections",
    "ferry_db_pool_max_connections",
    "ferry_build_info",
    "ferry_dependency_up",
]


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    checks: int = 0
    quiet: bool = False

    def check(self, ok: bool, what: str) -> bool:
        self.checks += 1
        if not ok:
            self.problems.append(what)
        return ok

    def fail(self, what: str) -> None:
        self.check(False, what)


def get(obj: Any, *path: Any, default: Any = None) -> Any:
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return default
    return obj


# ---------------------------------------------------------------------------------------------
# Facts taken from the code, so that the manifests cannot drift from it
# ---------------------------------------------------------------------------------------------


def admin_ports() -> dict[str, int]:
    """`default_admin_port` of services/platform/src/config.rs."""
    source = (ROOT / "services/platform/src/config.rs").read_text()
    body = source.split("pub fn default_admin_port", 1)[1].split("\n}\n", 1)[0]
    ports = {name: int(port) for name, port in re.findall(r'"([a-z-]+)"\s*=>\s*(\d+)', body)}
    missing = [s for s in SERVICES if s not in ports]
    if missing:
        raise SystemExit(f"default_admin_port has no port for {missing}")
    return ports


def service_drain_seconds() -> dict[str, int]:
    """The drain each service's main.rs passes to `run_standalone`, where it is a literal."""
    drains = {}
    for service in SERVICES:
        main = ROOT / "services" / service / "src" / "main.rs"
        if not main.exists():
            continue
        m = re.search(
            r"run_standalone::<[^>]*>\s*\(\s*&\w+\s*,\s*Duration::from_secs\((\d+)\)",
            main.read_text(),
            re.S,
        )
        if m:
            drains[service] = int(m.group(1))
    return drains


def workspace_binaries() -> set[str]:
    """Every `[[bin]]` of the service crates (the programs the image must ship)."""
    bins = set()
    for manifest in sorted((ROOT / "services").glob("*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        for target in data.get("bin", []):
            bins.add(target["name"])
        if not data.get("bin") and (manifest.parent / "src" / "main.rs").exists():
            bins.add(data["package"]["name"])
    return bins


def dockerfile_binaries(text: str) -> list[str]:
    m = re.search(r'^ENV FERRY_BINARIES="([^"]+)"', text, re.M)
    return m.group(1).split() if m else []


def readme_metric_families() -> dict[str, str]:
    """name -> type, from the README's Metrics table."""
    families = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*`(ferry_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|", line)
        if m:
            families[m.group(1)] = m.group(2)
    return families


# ---------------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------------


def render(overlay: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    kustomize = shutil.which("kustomize")
    if kubectl:
        cmd = [kubectl, "kustomize", str(overlay)]
    elif kustomize:
        cmd = [kustomize, "build", str(overlay)]
    else:
        raise SystemExit("neither kubectl nor kustomize is installed: cannot render k8s/")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def name_of(obj: dict) -> str:
    return f"{obj.get('kind')}/{get(obj, 'metadata', 'name')}"


def selects(selector: dict | None, labels: dict) -> bool:
    """Label selector semantics (matchLabels + matchExpressions); an empty selector selects all."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def schema_validate(objects: list[dict], report: Report, where: str) -> None:
    import kubernetes_validate

    versions = [v or kubernetes_validate.latest_version() for v in K8S_VERSIONS]
    for obj in objects:
        if obj.get("apiVersion", "").startswith(("monitoring.coreos.com/", "keda.sh/")):
            continue  # CRDs: checked in check_servicemonitor, validate_alerts, check_keda
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
                report.check(True, "")
            except Exception as e:  # ValidationError, SchemaNotFoundError, ...
                message = getattr(e, "message", None) or str(e)
                path = "/".join(str(p) for p in getattr(e, "path", []) or [])
                report.fail(f"{where}: {name_of(obj)} (Kubernetes {version}) {path}: {message}")


def quantity(value: Any) -> float:
    """CPU or memory quantity as a number (cores or bytes)."""
    s = str(value)
    units = {
        "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
        "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    }
    for unit, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if s.endswith(unit):
            return float(s[: -len(unit)]) * factor
    return float(s)


def check_k8s(overlay: str, objects: list[dict], report: Report) -> None:
    namespace = OVERLAYS[overlay]
    where = f"k8s/overlays/{overlay}"
    ports = admin_ports()
    drains = service_drain_seconds()
    image_bins = set(dockerfile_binaries((DEPLOY / "Dockerfile").read_text()))
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj.get("kind", "?"), []).append(obj)

    def named(kind: str, name: str) -> dict | None:
        return next((o for o in by_kind.get(kind, []) if get(o, "metadata", "name") == name), None)

    # Namespaces: every namespaced object lands in the overlay's namespace, which enforces the
    # restricted Pod Security Standard.
    for obj in objects:
        if obj["kind"] in ("Namespace",):
            continue
        report.check(
            get(obj, "metadata", "namespace") == namespace,
            f"{where}: {name_of(obj)} is not in namespace {namespace}",
        )
    ns = named("Namespace", namespace)
    report.check(ns is not None, f"{where}: no Namespace {namespace}")
    report.check(
        get(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce") == "restricted",
        f"{where}: Namespace {namespace} does not enforce the restricted Pod Security Standard",
    )

    config_maps = {get(o, "metadata", "name"): o for o in by_kind.get("ConfigMap", [])}
    secrets = {get(o, "metadata", "name"): o for o in by_kind.get("Secret", [])}
    external = EXTERNAL_SECRETS[overlay]

    def secret_has(name: str, key: str, what: str) -> None:
        if name in secrets:
            data = {**(secrets[name].get("data") or {}), **(secrets[name].get("stringData") or {})}
            report.check(key in data, f"{where}: {what}: Secret {name} has no key {key}")
        elif name in external:
            report.check(
                key in external[name],
                f"{where}: {what}: key {key} is not a documented key of Secret {name}",
            )
        else:
            report.fail(f"{where}: {what}: Secret {name} is neither rendered nor documented")

    for secret in secrets.values():
        encoded = (secret.get("data") or {}).get("credentials-key")
        if encoded is not None:
            keyring = base64.b64decode(encoded).decode()
            report.check(bool(KEYRING.fullmatch(keyring)),
                         f"{where}: {name_of(secret)}: credentials-key is not a keyring "
                         "(<id>:<base64 of 32 bytes>[,...])")

    def config_env(name: str) -> dict:
        return (config_maps.get(name) or {}).get("data") or {}

    deployments = by_kind.get("Deployment", [])
    for dep in deployments:
        dname = get(dep, "metadata", "name")
        pod = get(dep, "spec", "template", "spec", default={})
        labels = get(dep, "spec", "template", "metadata", "labels", default={})
        report.check(
            selects(get(dep, "spec", "selector"), labels),
            f"{where}: {dname}: its selector does not select its own pods",
        )
        # Security: no token, no service links, non-root, seccomp, read-only root, no caps.
        report.check(pod.get("automountServiceAccountToken") is False,
                     f"{where}: {dname}: automountServiceAccountToken must be false")
        report.check(pod.get("enableServiceLinks") is False,
                     f"{where}: {dname}: enableServiceLinks must be false (FERRY_* variables)")
        report.check(get(pod, "securityContext", "runAsNonRoot") is True,
                     f"{where}: {dname}: pod securityContext.runAsNonRoot must be true")
        report.check(get(pod, "securityContext", "seccompProfile", "type") == "RuntimeDefault",
                     f"{where}: {dname}: pod seccompProfile must be RuntimeDefault")
        for c in pod.get("containers", []):
            cname = f"{dname}/{c.get('name')}"
            sc = c.get("securityContext") or {}
            report.check(sc.get("allowPrivilegeEscalation") is False,
                         f"{where}: {cname}: allowPrivilegeEscalation must be false")
            report.check(sc.get("readOnlyRootFilesystem") is True,
                         f"{where}: {cname}: readOnlyRootFilesystem must be true")
            report.check(get(sc, "capabilities", "drop") == ["ALL"],
                         f"{where}: {cname}: capabilities must drop ALL")
            image = c.get("image", "")
            report.check(":" in image.rsplit("/", 1)[-1] or "@" in image,
                         f"{where}: {cname}: image {image!r} has no tag or digest")
            binary = Path((c.get("command") or [""])[0]).name
            report.check(binary in image_bins,
                         f"{where}: {cname}: runs {binary!r}, which deploy/Dockerfile does not ship")
            res = c.get("resources") or {}
            for kind in ("cpu", "memory"):
                req, lim = get(res, "requests", kind), get(res, "limits", kind)
                if report.check(req is not None and lim is not None,
                                f"{where}: {cname}: needs {kind} request and limit"):
                    report.check(quantity(req) <= quantity(lim),
                                 f"{where}: {cname}: {kind} request {req} exceeds limit {lim}")
            report.check(c.get("readinessProbe") is not None and c.get("livenessProbe") is not None,
                         f"{where}: {cname}: needs readiness and liveness probes")

        service = labels.get("app.kubernetes.io/name")
        if service not in SERVICES:
            continue
        # The five services: admin port, probes, graceful termination, configuration.
        c = get(pod, "containers", 0, default={})
        cname = f"{dname}/{c.get('name')}"
        report.check(get(c, "command", 0) == f"/usr/local/bin/{service}",
                     f"{where}: {cname}: command must be /usr/local/bin/{service}")
        admin = next((p for p in c.get("ports", []) if p.get("name") == "admin"), None)
        report.check(get(admin, "containerPort") == ports[service],
                     f"{where}: {cname}: container port `admin` must be {ports[service]}")
        env = {e["name"]: e for e in c.get("env", [])}
        report.check(get(env, "FERRY_ADMIN__LISTEN", "value") == f"0.0.0.0:{ports[service]}",
                     f"{where}: {cname}: FERRY_ADMIN__LISTEN must be 0.0.0.0:{ports[service]}")
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"),
                            ("startupProbe", "/healthz")):
            report.check(get(c, probe, "httpGet", "path") == path
                         and get(c, probe, "httpGet", "port") == "admin",
                         f"{where}: {cname}: {probe} must GET {path} on port `admin`")
        for name in REQUIRED_SECRET_ENV | ({"FERRY_CREDENTIALS_KEY"} if "connector" in service else set()):
            ref = get(env, name, "valueFrom", "secretKeyRef")
            report.check(ref is not None, f"{where}: {cname}: {name} must come from a Secret")
        # Every reference resolves.
        env_from_config: dict = {}
        for source in c.get("envFrom", []):
            cm = get(source, "configMapRef", "name")
            if cm is not None and report.check(cm in config_maps,
                                               f"{where}: {cname}: ConfigMap {cm} is not rendered"):
                env_from_config.update(config_env(cm))
        for e in c.get("env", []):
            ref = get(e, "valueFrom", "secretKeyRef")
            if ref:
                secret_has(ref["name"], ref["key"], f"{cname} env {e['name']}")
            ref = get(e, "valueFrom", "configMapKeyRef")
            if ref:
                report.check(ref["key"] in config_env(ref["name"]),
                             f"{where}: {cname}: ConfigMap {ref['name']} has no key {ref['key']}")
        for volume in pod.get("volumes", []):
            secret = volume.get("secret")
            if secret:
                for item in secret.get("items") or []:
                    secret_has(secret["secretName"], item["key"], f"{cname} volume {volume['name']}")
        if "FERRY_CONFIG" in env:
            config_path = env["FERRY_CONFIG"].get("value", "")
            mounted = any(config_path.startswith(m["mountPath"].rstrip("/") + "/")
                          for m in c.get("volumeMounts", []))
            report.check(mounted, f"{where}: {cname}: FERRY_CONFIG {config_path} is not mounted")
        # Graceful termination: the pod gets SIGKILL after the grace period, which must cover
        # the preStop sleep plus the service's drain.
        # FERRY_DRAIN_SECONDS overrides the service's default; the grace covers the longer.
        drain = max(drains.get(service, 0), int(env_from_config.get("FERRY_DRAIN_SECONDS", 0) or 0))
        report.check(drain > 0, f"{where}: {cname}: no drain time known (FERRY_DRAIN_SECONDS)")
        sleep = get(c, "lifecycle", "preStop", "sleep", "seconds")
        report.check(isinstance(sleep, int) and sleep > 0,
                     f"{where}: {cname}: needs a preStop sleep (endpoints forget the pod first)")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        report.check(grace > (sleep or 0) + drain,
                     f"{where}: {cname}: terminationGracePeriodSeconds {grace} must exceed "
                     f"preStop {sleep} s + drain {drain} s")

        # Its Service, PodDisruptionBudget and (for the scaled ones) HorizontalPodAutoscaler.
        svc = named("Service", dname)
        if report.check(svc is not None, f"{where}: {dname}: no Service {dname}"):
            report.check(selects({"matchLabels": get(svc, "spec", "selector")}, labels),
                         f"{where}: Service {dname} does not select the Deployment's pods")
            report.check(any(p.get("name") == "admin" and p.get("port") == ports[service]
                             and p.get("targetPort") == "admin"
                             for p in get(svc, "spec", "ports", default=[])),
                         f"{where}: Service {dname} needs port `admin` {ports[service]} -> admin")
        pdb = named("PodDisruptionBudget", dname)
        if report.check(pdb is not None, f"{where}: {dname}: no PodDisruptionBudget"):
            report.check(selects(get(pdb, "spec", "selector"), labels),
                         f"{where}: PodDisruptionBudget {dname} does not select the pods")
        # Scaled by a CPU HPA (base) or a KEDA ScaledObject (queue depth, prod), never both.
        hpa = named("HorizontalPodAutoscaler", dname) or named("ScaledObject", dname)
        if service in AUTOSCALED:
            report.check(not (named("HorizontalPodAutoscaler", dname)
                              and named("ScaledObject", dname)),
                         f"{where}: {dname}: an HPA and a ScaledObject fight over it")
            if report.check(hpa is not None,
                            f"{where}: {dname}: no HorizontalPodAutoscaler or ScaledObject"):
                keda = hpa["kind"] == "ScaledObject"
                report.check(get(hpa, "spec", "scaleTargetRef", "name") == dname
                             and get(hpa, "spec", "scaleTargetRef", "kind") == "Deployment",
                             f"{where}: HPA {dname} does not target Deployment {dname}")
                lo = get(hpa, "spec", "minReplicaCount" if keda else "minReplicas", default=1)
                hi = get(hpa, "spec", "maxReplicaCount" if keda else "maxReplicas")
                report.check(isinstance(hi, int) and 1 <= lo <= hi,
                             f"{where}: HPA {dname}: needs 1 <= minReplicas <= maxReplicas")
                if keda:
                    validate_keda.check_scaled_object(where, hpa, service, by_kind, report)
                report.check("replicas" not in dep["spec"],
                             f"{where}: {dname}: spec.replicas fights the HPA; leave it out")
                if service == "connector-mailchimp":
                    report.check(get(env, "FERRY_MAILCHIMP__REPLICAS") is None,
                                 f"{where}: {cname}: FERRY_MAILCHIMP__REPLICAS is deprecated and "
                                 "ignored (the replicas share each account's connections through "
                                 "the database, whatever their number); remove it")
    # Migrations as a Job: `<service> migrate` for every service on the schema its Deployment
    # uses, under the same pod security; the Deployments do not migrate at start.
    job = named("Job", "ferry-migrate")
    if report.check(job is not None, f"{where}: no Job ferry-migrate (the migrations)"):
        pod = get(job, "spec", "template", "spec", default={})
        report.check(pod.get("automountServiceAccountToken") is False
                     and pod.get("enableServiceLinks") is False
                     and get(pod, "securityContext", "runAsNonRoot") is True
                     and get(pod, "securityContext", "seccompProfile", "type") == "RuntimeDefault",
                     f"{where}: ferry-migrate: pod security as for the Deployments")
        report.check(pod.get("restartPolicy") in ("OnFailure", "Never"),
                     f"{where}: ferry-migrate: restartPolicy must be OnFailure or Never")
        by_command = {tuple(c.get("command") or []): c for c in pod.get("containers", [])}
        for service in SERVICES:
            c = by_command.get((f"/usr/local/bin/{service}", "migrate"))
            if not report.check(c is not None,
                                f"{where}: ferry-migrate runs no `{service} migrate`"):
                continue
            sc = c.get("securityContext") or {}
            report.check(sc.get("allowPrivilegeEscalation") is False
                         and sc.get("readOnlyRootFilesystem") is True
                         and get(sc, "capabilities", "drop") == ["ALL"],
                         f"{where}: ferry-migrate/{c.get('name')}: container security as for "
                         "the Deployments")
            env = {e["name"]: e for e in c.get("env", [])}
            dep = named("Deployment", f"ferry-{service}")
            dep_env = {e["name"]: e for e in get(dep, "spec", "template", "spec", "containers",
                                                  0, "env", default=[])}
            report.check(get(env, "FERRY_DATABASE__SCHEMA", "value")
                         == get(dep_env, "FERRY_DATABASE__SCHEMA", "value"),
                         f"{where}: ferry-migrate/{c.get('name')}: FERRY_DATABASE__SCHEMA differs "
                         f"from Deployment ferry-{service}'s")
            ref = get(env, "FERRY_DATABASE__URL", "valueFrom", "secretKeyRef")
            if report.check(ref is not None,
                            f"{where}: ferry-migrate/{c.get('name')}: FERRY_DATABASE__URL must "
                            "come from a Secret"):
                secret_has(ref["name"], ref["key"], f"ferry-migrate/{c.get('name')}")
        migrate_at_start = {
            config_env(get(source, "configMapRef", "name")).get("FERRY_DATABASE__MIGRATE_AT_START")
            for dep in deployments
            for c in get(dep, "spec", "template", "spec", "containers", default=[])
            for source in c.get("envFrom", []) if get(source, "configMapRef", "name")
        }
        report.check(migrate_at_start == {"false"},
                     f"{where}: with the Job ferry-migrate the Deployments must not migrate at "
                     "start (FERRY_DATABASE__MIGRATE_AT_START=false in their ConfigMap)")
    for service in SERVICES:
        report.check(named("Deployment", f"ferry-{service}") is not None,
                     f"{where}: no Deployment ferry-{service}")

    # PDBs and HPAs point at something.
    pods = [get(d, "spec", "template", "metadata", "labels", default={}) for d in deployments]
    for pdb in by_kind.get("PodDisruptionBudget", []):
        report.check(any(selects(get(pdb, "spec", "selector"), p) for p in pods),
                     f"{where}: {name_of(pdb)} selects no pod")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        report.check(named("Deployment", get(hpa, "spec", "scaleTargetRef", "name")) is not None,
                     f"{where}: {name_of(hpa)} targets a missing Deployment")

    # NetworkPolicies: each selects a pod; every pod is under a default deny both ways; the
    # connectors may reach HTTPS.
    policies = by_kind.get("NetworkPolicy", [])
    for policy in policies:
        report.check(any(selects(get(policy, "spec", "podSelector"), p) for p in pods),
                     f"{where}: {name_of(policy)} selects no pod")
    for dep, labels in zip(deployments, pods):
        denied = {t for pol in policies if selects(get(pol, "spec", "podSelector"), labels)
                  and not get(pol, "spec", "ingress") and not get(pol, "spec", "egress")
                  for t in get(pol, "spec", "policyTypes", default=[])}
        report.check(denied >= {"Ingress", "Egress"},
                     f"{where}: {name_of(dep)}: no default-deny NetworkPolicy for its pods")

        def egress_ports(lbl: dict) -> set:
            return {p.get("port") for pol in policies
                    if selects(get(pol, "spec", "podSelector"), lbl)
                    for rule in get(pol, "spec", "egress", default=[])
                    for p in rule.get("ports", [])}

        allowed = egress_ports(labels)
        if labels.get("app.kubernetes.io/part-of") == "ferry" and labels.get(
                "app.kubernetes.io/name") in SERVICES:
            report.check({53, 5672, 5432} <= allowed,
                         f"{where}: {name_of(dep)}: DNS, RabbitMQ and PostgreSQL must be reachable")
        if labels.get("app.kubernetes.io/component") == "connector":
            report.check(443 in allowed, f"{where}: {name_of(dep)}: connectors need egress to 443")

    check_servicemonitor(where, by_kind, report)


def check_servicemonitor(where: str, by_kind: dict[str, list[dict]], report: Report) -> None:
    """ServiceMonitor is a CRD without a schema here: check its shape and what it selects."""
    monitors = by_kind.get("ServiceMonitor", [])
    if not report.check(len(monitors) == 1, f"{where}: expected one ServiceMonitor"):
        return
    sm = monitors[0]
    report.check(sm.get("apiVersion") == "monitoring.coreos.com/v1",
                 f"{where}: ServiceMonitor apiVersion must be monitoring.coreos.com/v1")
    allowed = {"selector", "endpoints", "namespaceSelector", "jobLabel", "podTargetLabels",
               "targetLabels", "sampleLimit", "scrapeProtocols", "attachMetadata"}
    unknown = set(sm.get("spec", {})) - allowed
    report.check(not unknown, f"{where}: ServiceMonitor: unknown spec fields {sorted(unknown)}")
    endpoints = get(sm, "spec", "endpoints", default=[])
    report.check(bool(endpoints), f"{where}: ServiceMonitor has no endpoints")
    for ep in endpoints:
        report.check(ep.get("path") == "/metrics", f"{where}: ServiceMonitor must scrape /metrics")
        for key in ("interval", "scrapeTimeout"):
            if key in ep:
                report.check(bool(re.fullmatch(r"(\d+(ms|s|m|h))+", str(ep[key]))),
                             f"{where}: ServiceMonitor {key} {ep[key]!r} is not a duration")
    selected = [s for s in by_kind.get("Service", [])
                if selects(get(sm, "spec", "selector"), get(s, "metadata", "labels", default={}))]
    for service in SERVICES:
        svc = next((s for s in selected if get(s, "metadata", "name") == f"ferry-{service}"), None)
        if report.check(svc is not None, f"{where}: ServiceMonitor does not select ferry-{service}"):
            names = {p.get("name") for p in get(svc, "spec", "ports", default=[])}
            for ep in endpoints:
                report.check(ep.get("port") in names,
                             f"{where}: ServiceMonitor port {ep.get('port')!r} not on ferry-{service}")


# ---------------------------------------------------------------------------------------------
# Compose
# ---------------------------------------------------------------------------------------------


def interpolate_default(value: str) -> str:
    """`${VAR:-default}` -> default (the file as it runs without overrides)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def compose_schema() -> dict:
    import check_jsonschema

    path = (Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor"
            / "compose-spec.json")
    return json.loads(path.read_text())


def check_compose(compose: dict, report: Report, schema: dict | None = None) -> None:
    import jsonschema

    where = "deploy/docker-compose.yml"
    if schema is not None:
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
        for e in errors:
            report.fail(f"{where}: schema: /{'/'.join(map(str, e.path))}: {e.message}")
        report.check(True, "")
    services = compose.get("services", {})
    ports = admin_ports()
    bins = set(dockerfile_binaries((DEPLOY / "Dockerfile").read_text()))
    for required in SERVICES + ["sandbox", "rabbitmq", "postgres", "otel-collector", "jaeger"]:
        report.check(required in services, f"{where}: no service {required}")

    published = {}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            parts = str(port).split(":")
            # The setup holds development secrets: every port on the host's loopback only.
            report.check(len(parts) == 3 and parts[0] == "127.0.0.1",
                         f"{where}: {name}: port {port} must be published on 127.0.0.1 only")
            host = parts[-2] if len(parts) >= 2 else parts[0]
            report.check(host not in published,
                         f"{where}: host port {host} published by {published.get(host)} and {name}")
            published[host] = name
        for dep in svc.get("depends_on", []):
            report.check(dep in services, f"{where}: {name} depends on unknown service {dep}")
        for env_file in svc.get("env_file", []):
            path = env_file if isinstance(env_file, str) else env_file.get("path")
            report.check((DEPLOY / interpolate_default(path)).is_file(),
                         f"{where}: {name}: env file {path} does not exist")
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                report.check((DEPLOY / source).exists(),
                             f"{where}: {name}: mounted {source} does not exist")
            else:
                report.check(source in (compose.get("volumes") or {}),
                             f"{where}: {name}: volume {source} is not declared")
        build = svc.get("build")
        if build:
            dockerfile = (DEPLOY / build["context"] / build["dockerfile"]).resolve()
            report.check(dockerfile == (DEPLOY / "Dockerfile").resolve(),
                         f"{where}: {name}: must build deploy/Dockerfile")
            command = svc.get("command") or []
            report.check(bool(command) and Path(command[0]).name in bins,
                         f"{where}: {name}: runs {command[:1]}, which the image does not ship")

    secrets_file = DEPLOY / "compose" / "dev-secrets.env"
    secrets = read_env_file(secrets_file) if secrets_file.exists() else {}
    shared_file = DEPLOY / "compose" / "ferry.env"
    shared = read_env_file(shared_file) if shared_file.exists() else {}
    schemas = set()
    drain = int(shared.get("FERRY_DRAIN_SECONDS", "0") or 0)
    drains = service_drain_seconds()
    for service in SERVICES:
        svc = services.get(service) or {}
        env = svc.get("environment") or {}
        port = ports[service]
        report.check(env.get("FERRY_ADMIN__LISTEN") == f"0.0.0.0:{port}",
                     f"{where}: {service}: FERRY_ADMIN__LISTEN must be 0.0.0.0:{port}")
        report.check(f"127.0.0.1:{port}:{port}" in [str(p) for p in svc.get("ports", [])],
                     f"{where}: {service}: admin port {port} must be published")
        report.check(get(svc, "command", 0) == f"/usr/local/bin/{service}",
                     f"{where}: {service}: command must be /usr/local/bin/{service}")
        schema_name = env.get("FERRY_DATABASE__SCHEMA", "")
        report.check(bool(re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema_name))
                     and schema_name not in schemas,
                     f"{where}: {service}: FERRY_DATABASE__SCHEMA must be a unique identifier")
        schemas.add(schema_name)
        grace = str(svc.get("stop_grace_period", "10s"))
        m = re.fullmatch(r"(\d+)s", grace)
        need = max(drain, drains.get(service, 0))
        report.check(bool(m) and int(m.group(1)) > need,
                     f"{where}: {service}: stop_grace_period {grace} must exceed the drain ({need} s)")
        files = [interpolate_default(f if isinstance(f, str) else f["path"])
                 for f in svc.get("env_file", [])]
        report.check("compose/ferry.env" in files and any("secrets" in f for f in files),
                     f"{where}: {service}: must read compose/ferry.env and the secrets env file")
        if "FERRY_CONFIG" in env:
            mounted = [str(v).split(":")[1] for v in svc.get("volumes", [])]
            report.check(env["FERRY_CONFIG"] in mounted,
                         f"{where}: {service}: FERRY_CONFIG {env['FERRY_CONFIG']} is not mounted")
            source = next((str(v).split(":")[0] for v in svc.get("volumes", [])
                           if str(v).split(":")[1] == env["FERRY_CONFIG"]), None)
            if source and (DEPLOY / source).is_file():
                try:
                    tomllib.loads((DEPLOY / source).read_text())
                    report.check(True, "")
                except tomllib.TOMLDecodeError as e:
                    report.fail(f"{where}: {service}: {source} is not valid TOML: {e}")

    # Environment files: the secrets the services need; URLs agree with the servers' settings.
    report.check(shared.get("FERRY_BUS__KIND") == "rabbitmq",
                 f"{where}: compose/ferry.env must set FERRY_BUS__KIND=rabbitmq")
    for key in REQUIRED_SECRET_ENV | {"FERRY_CREDENTIALS_KEY"}:
        report.check(bool(secrets.get(key)), f"{where}: compose/dev-secrets.env lacks {key}")
    report.check(bool(KEYRING.fullmatch(secrets.get("FERRY_CREDENTIALS_KEY", ""))),
                 f"{where}: compose/dev-secrets.env: FERRY_CREDENTIALS_KEY is not a keyring "
                 "(<id>:<base64 of 32 bytes>[,...])")
    bus = re.fullmatch(r"amqp://([^:]+):([^@]+)@([^:/]+):(\d+)/.*", secrets.get("FERRY_BUS__URL", ""))
    report.check(bool(bus) and bus.group(1) == secrets.get("RABBITMQ_DEFAULT_USER")
                 and bus.group(2) == secrets.get("RABBITMQ_DEFAULT_PASS")
                 and bus.group(3) in services,
                 f"{where}: FERRY_BUS__URL must name the rabbitmq service and its user/password")
    db = re.fullmatch(r"postgres(?:ql)?://([^:]+):([^@]+)@([^:/]+):(\d+)/(\w+)",
                      secrets.get("FERRY_DATABASE__URL", ""))
    report.check(bool(db) and db.group(1) == secrets.get("POSTGRES_USER")
                 and db.group(2) == secrets.get("POSTGRES_PASSWORD")
                 and db.group(3) in services and db.group(5) == secrets.get("POSTGRES_DB"),
                 f"{where}: FERRY_DATABASE__URL must name the postgres service, user, password, db")
    otlp = re.fullmatch(r"http://([^:/]+):(\d+)", shared.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
    report.check(bool(otlp) and otlp.group(1) in services,
                 f"{where}: OTEL_EXPORTER_OTLP_ENDPOINT must point at a compose service")

    # The collector: pipelines use defined components; it listens where the services send.
    collector = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    for pipeline, spec in get(collector, "service", "pipelines", default={}).items():
        for section in ("receivers", "processors", "exporters"):
            for component in spec.get(section, []):
                report.check(component in (collector.get(section) or {}),
                             f"deploy/otel-collector.yaml: {pipeline} uses undefined {component}")
    http = get(collector, "receivers", "otlp", "protocols", "http", "endpoint", default="")
    report.check(bool(otlp) and http.endswith(f":{otlp.group(2)}"),
                 "deploy/otel-collector.yaml: the OTLP/HTTP receiver must listen on the port "
                 "OTEL_EXPORTER_OTLP_ENDPOINT names")
    for name, exporter in (collector.get("exporters") or {}).items():
        endpoint = (exporter or {}).get("endpoint")
        if endpoint:
            host = re.sub(r"^\w+://", "", endpoint).split(":")[0]
            report.check(host in services,
                         f"deploy/otel-collector.yaml: exporter {name} sends to unknown host {host}")

    # Prometheus scrapes exactly the five admin ports.
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prometheus.get("scrape_configs", [])
               for sc in job.get("static_configs", []) for t in sc.get("targets", [])}
    report.check(targets == {f"{s}:{ports[s]}" for s in SERVICES},
                 f"deploy/prometheus/prometheus.yml: targets {sorted(targets)} are not the five "
                 "services' admin ports")
    for provisioning in (DEPLOY / "grafana" / "provisioning").rglob("*.yaml"):
        report.check(yaml.safe_load(provisioning.read_text()).get("apiVersion") == 1,
                     f"{provisioning.relative_to(ROOT)}: not a Grafana provisioning file")


# ---------------------------------------------------------------------------------------------
# Dashboard and Dockerfile
# ---------------------------------------------------------------------------------------------


def check_dashboard(text: str, report: Report) -> set[str]:
    """Checks the dashboard; returns the ferry_* families its panels chart."""
    where = "deploy/grafana/ferry-dashboard.json"
    try:
        dashboard = json.loads(text)
    except json.JSONDecodeError as e:
        report.fail(f"{where}: invalid JSON: {e}")
        return set()
    families = readme_metric_families()
    report.check(bool(families), "README.md: no Metrics table found")
    panels = []
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop(0)
        panels.append(panel)
        stack.extend(panel.get("panels", []))
    ids = [p.get("id") for p in panels]
    report.check(len(ids) == len(set(ids)) and None not in ids, f"{where}: panel ids must be unique")
    report.check(bool(dashboard.get("title")) and bool(dashboard.get("uid")),
                 f"{where}: needs a title and a uid")
    variables = {v.get("name") for v in get(dashboard, "templating", "list", default=[])}
    used = set()
    for panel in panels:
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        report.check(bool(targets), f"{where}: panel {panel.get('title')!r} has no query")
        for target in targets:
            expr = target.get("expr", "")
            report.check(bool(expr), f"{where}: panel {panel.get('title')!r}: empty query")
            report.check(expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"),
                         f"{where}: panel {panel.get('title')!r}: unbalanced query {expr!r}")
            for var in re.findall(r"\$(\w+)", expr):
                report.check(var in variables or var.startswith("__"),
                             f"{where}: panel {panel.get('title')!r} uses undefined ${var}")
            for metric in re.findall(r"\bferry_[a-z0-9_]+", expr):
                family = metric
                for suffix in ("_bucket", "_count", "_sum"):
                    if metric.endswith(suffix) and metric[: -len(suffix)] in families:
                        family = metric[: -len(suffix)]
                        report.check(families[family] == "histogram",
                                     f"{where}: {metric}: {family} is no histogram")
                report.check(family in families,
                             f"{where}: panel {panel.get('title')!r} queries {metric}, which the "
                             "README's Metrics table does not list")
                used.add(family)
    for family in DASHBOARD_REQUIRED:
        report.check(family in used, f"{where}: no panel shows {family}")
    return used


def check_dockerfile(text: str, report: Report, lint: bool = True) -> None:
    where = "deploy/Dockerfile"
    shipped = dockerfile_binaries(text)
    expected = workspace_binaries()
    report.check(set(shipped) == expected,
                 f"{where}: FERRY_BINARIES {sorted(shipped)} differ from the workspace's binaries "
                 f"{sorted(expected)}")
    packages = set(re.findall(r"-p (ferry[\w-]*)", text))
    crates = {tomllib.loads(m.read_text())["package"]["name"]
              for m in (ROOT / "services").glob("*/Cargo.toml")}
    report.check(packages <= crates, f"{where}: builds unknown packages {sorted(packages - crates)}")
    report.check(bool(re.search(r"^USER (?!0\b|root\b)\S+", text, re.M)),
                 f"{where}: the runtime stage must run as a non-root USER")
    report.check(text.count("--mount=type=cache") >= 3, f"{where}: cargo caches must be mounted")
    hadolint = shutil.which("hadolint")
    if lint and hadolint:
        result = subprocess.run([hadolint, "--no-color", "-"], input=text, text=True,
                                capture_output=True)
        report.check(result.returncode == 0, f"{where}: hadolint:\n{result.stdout}{result.stderr}")
    elif lint:
        print("  (hadolint not installed: Dockerfile lint skipped)")


# ---------------------------------------------------------------------------------------------
# Self-test: every kind of check can fail
# ---------------------------------------------------------------------------------------------


def deployment(objects: list[dict], name: str) -> dict:
    return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def container(objects: list[dict], name: str) -> dict:
    return deployment(objects, name)["spec"]["template"]["spec"]["containers"][0]


def self_test(dev: list[dict], compose: dict, dashboard: str, dockerfile: str) -> list[str]:
    """Applies each break to a copy and returns the breaks that went unreported."""
    k8s_breaks: list[tuple[str, Callable[[list[dict]], None]]] = [
        ("readiness probe removed",
         lambda o: container(o, "ferry-mapper").pop("readinessProbe")),
        ("liveness probe on the wrong path",
         lambda o: container(o, "ferry-notifier")["livenessProbe"]["httpGet"].update(path="/")),
        ("writable root filesystem",
         lambda o: container(o, "ferry-order-orchestrator")["securityContext"].update(
             readOnlyRootFilesystem=False)),
        ("grace period shorter than the drain",
         lambda o: deployment(o, "ferry-mapper")["spec"]["template"]["spec"].update(
             terminationGracePeriodSeconds=10)),
        ("missing memory limit",
         lambda o: container(o, "ferry-notifier")["resources"]["limits"].pop("memory")),
        ("secret key that does not exist",
         lambda o: next(e for e in container(o, "ferry-mapper")["env"]
                        if e["name"] == "FERRY_BUS__URL")["valueFrom"]["secretKeyRef"].update(
             key="amqp")),
        ("admin port that is not the service's",
         lambda o: container(o, "ferry-mapper")["ports"][0].update(containerPort=9100)),
        ("deprecated FERRY_MAILCHIMP__REPLICAS set",
         lambda o: container(o, "ferry-connector-mailchimp")["env"].append(
             {"name": "FERRY_MAILCHIMP__REPLICAS", "value": "2"})),
        ("Service selecting nothing",
         lambda o: next(x for x in o if x["kind"] == "Service"
                        and x["metadata"]["name"] == "ferry-mapper")["spec"]["selector"].update(
             {"app.kubernetes.io/name": "mapperr"})),
        ("default-deny policy removed",
         lambda o: o.remove(next(x for x in o if x["kind"] == "NetworkPolicy"
                                 and x["metadata"]["name"] == "ferry-default-deny"))),
        ("ServiceMonitor on an unknown port",
         lambda o: next(x for x in o if x["kind"] == "ServiceMonitor")["spec"]["endpoints"][0]
         .update(port="metrics")),
        ("schema violation",
         lambda o: container(o, "ferry-mapper").update(imagePullPolicy=3)),
        ("a service missing from the migration Job",
         lambda o: next(x for x in o if x["kind"] == "Job")["spec"]["template"]["spec"]
         ["containers"].pop()),
        ("the migration Job on another schema",
         lambda o: next(e for e in next(x for x in o if x["kind"] == "Job")["spec"]["template"]
                        ["spec"]["containers"][0]["env"]
                        if e["name"] == "FERRY_DATABASE__SCHEMA").update(value="public")),
        ("Deployments migrating at start next to the Job",
         lambda o: next(x for x in o if x["kind"] == "ConfigMap"
                        and x["metadata"]["name"].startswith("ferry-config"))["data"].update(
             FERRY_DATABASE__MIGRATE_AT_START="true")),
    ]
    missed = []
    for what, breaks in k8s_breaks:
        objects = copy.deepcopy(dev)
        breaks(objects)
        report = Report()
        check_k8s("dev", objects, report)
        if what == "schema violation":
            schema_validate(objects, report, "self-test")
        if not report.problems:
            missed.append(f"k8s: {what}")

    compose_breaks: list[tuple[str, Callable[[dict], None]]] = [
        ("wrong admin port", lambda c: c["services"]["mapper"]["environment"].update(
            FERRY_ADMIN__LISTEN="0.0.0.0:9999")),
        ("unknown binary", lambda c: c["services"]["notifier"].update(command=["/usr/local/bin/x"])),
        ("duplicate schema", lambda c: c["services"]["notifier"]["environment"].update(
            FERRY_DATABASE__SCHEMA="mapper")),
        ("short grace period", lambda c: c["services"]["mapper"].update(stop_grace_period="5s")),
    ]
    for what, breaks in compose_breaks:
        broken = copy.deepcopy(compose)
        breaks(broken)
        report = Report()
        check_compose(broken, report)
        if not report.problems:
            missed.append(f"compose: {what}")

    for what, text in [
        ("unknown metric", dashboard.replace("ferry_outbox_pending", "ferry_outbox_waiting")),
        ("invalid JSON", dashboard[:-5]),
    ]:
        report = Report()
        check_dashboard(text, report)
        if not report.problems:
            missed.append(f"dashboard: {what}")

    report = Report()
    check_dockerfile(dockerfile.replace(" sandbox\"", "\""), report, lint=False)
    if not report.problems:
        missed.append("Dockerfile: a binary left out")
    return missed


def self_test_keda(prod: list[dict]) -> list[str]:
    missed = []

    def rabbit(o: list[dict]) -> dict:
        return next(x for x in o if x["kind"] == "ScaledObject")["spec"]["triggers"][0]

    breaks: list[tuple[str, Callable[[list[dict]], None]]] = [
        ("a field KEDA does not know", lambda o: rabbit(o)["metadata"].update(
            queue=rabbit(o)["metadata"].pop("queueName"))),
        ("the wrong queue", lambda o: rabbit(o)["metadata"].update(queueName="notifier")),
        ("an invalid mode", lambda o: rabbit(o)["metadata"].update(mode="Length")),
        ("a missing TriggerAuthentication", lambda o: o.remove(
            next(x for x in o if x["kind"] == "TriggerAuthentication"))),
        ("a ScaledObject next to an HPA", lambda o: o.append(
            {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
             "metadata": {"name": "ferry-mapper"},
             "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "ferry-mapper"},
                      "minReplicas": 2, "maxReplicas": 4}})),
    ]
    for what, brk in breaks:
        broken = copy.deepcopy(prod)
        brk(broken)
        report = Report()
        check_k8s("prod", broken, report)
        validate_keda.check_schema("prod", broken, report)
        if not report.problems:
            missed.append(f"keda: {what}")
    return missed


def self_test_routes(dev: list[dict]) -> list[str]:
    missed = []
    routes = validate_routes.load_routes()
    breaks: list[tuple[str, Callable[[list[dict]], None]]] = [
        ("Ingress path missing", lambda o: next(x for x in o if x["kind"] == "Ingress")
         ["spec"]["rules"][0]["http"]["paths"].pop()),
        ("Ingress path to the wrong service", lambda o: next(x for x in o if x["kind"] == "Ingress")
         ["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(name="ferry-mapper")),
        ("Ingress without TLS", lambda o: next(x for x in o if x["kind"] == "Ingress")
         ["spec"].pop("tls")),
        ("ingress policy misses a routed service", lambda o: next(
            x for x in o if x["metadata"]["name"] == validate_routes.INGRESS_POLICY)
         ["spec"]["podSelector"]["matchExpressions"][0]["values"].pop()),
    ]
    for what, brk in breaks:
        broken = copy.deepcopy(dev)
        brk(broken)
        report = Report()
        validate_routes.check_overlay("dev", broken, routes, report)
        if not report.problems:
            missed.append(f"routes: {what}")
    return missed


def self_test_alerts(dev: list[dict], charted: set[str]) -> list[str]:
    missed = []
    groups, tests = validate_alerts.load()
    families = readme_metric_families()
    breaks: list[tuple[str, Callable[[list[dict]], None]]] = [
        ("alert without runbook",
         lambda g: g[0]["rules"][0]["annotations"].pop("runbook_url")),
        ("runbook page missing",
         lambda g: g[0]["rules"][0]["annotations"].update(runbook_url="docs/runbooks/nope.md")),
        ("unknown family", lambda g: g[0]["rules"][1].update(expr="ferry_nothing_total > 0")),
        ("alert without severity", lambda g: g[0]["rules"][2]["labels"].pop("severity")),
        ("untested alert", lambda g: g[0]["rules"].append(
            dict(g[0]["rules"][0], alert="FerryUntested"))),
    ]
    for what, brk in breaks:
        broken = copy.deepcopy(groups)
        brk(broken)
        report = Report()
        validate_alerts.check_rule_file(broken, tests, families, charted, report)
        if not report.problems:
            missed.append(f"rules: {what}")
    broken = copy.deepcopy(groups)
    broken[0]["rules"][0]["for"] = "20m"
    report = Report()
    validate_alerts.check_prometheusrule("dev", dev, broken, report)
    if not report.problems:
        missed.append("k8s: PrometheusRule differs from the rule file")
    return missed


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-self-test", action="store_true",
                        help="skip proving that the checks catch known breaks")
    parser.add_argument("--write-prometheusrule", action="store_true",
                        help="regenerate k8s/base/prometheusrule.yaml from the rule file, then check")
    parser.add_argument("--write-routes", action="store_true",
                        help="regenerate the Ingress and HTTPRoute from k8s/base/routes.json, then check")
    args = parser.parse_args()
    if args.write_routes:
        validate_routes.write(admin_ports())
    if args.write_prometheusrule:
        validate_alerts.write_prometheusrule()

    report = Report()
    rendered = {}
    for overlay in OVERLAYS:
        print(f"k8s/overlays/{overlay}: render, schemas, checks")
        objects = render(K8S / "overlays" / overlay)
        rendered[overlay] = objects
        schema_validate(objects, report, f"k8s/overlays/{overlay}")
        check_k8s(overlay, objects, report)
        validate_keda.check_schema(f"k8s/overlays/{overlay}", objects, report)

    print("deploy/docker-compose.yml: compose schema, checks")
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    check_compose(compose, report, compose_schema())

    print("deploy/grafana/ferry-dashboard.json: JSON, metric families")
    dashboard = (DEPLOY / "grafana" / "ferry-dashboard.json").read_text()
    charted = check_dashboard(dashboard, report)

    print("k8s routes: Ingress, HTTPRoute, ingress NetworkPolicy against k8s/base/routes.json")
    routes = validate_routes.load_routes()
    for overlay, objects in rendered.items():
        validate_routes.check_overlay(f"k8s/overlays/{overlay}", objects, routes, report)
    validate_routes.check_httproute(routes, admin_ports(), report)

    print("deploy/prometheus/ferry-rules.yaml: promtool check and unit tests, runbooks, families")
    groups, rule_tests = validate_alerts.load()
    validate_alerts.promtool(report)
    validate_alerts.check_rule_file(groups, rule_tests, readme_metric_families(), charted, report)
    for overlay, objects in rendered.items():
        validate_alerts.check_prometheusrule(f"k8s/overlays/{overlay}", objects, groups, report)

    print("deploy/Dockerfile: binaries, lint")
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    check_dockerfile(dockerfile, report)

    if not args.no_self_test:
        print("self-test: known breaks are reported")
        missed = self_test(rendered["dev"], compose, dashboard, dockerfile)
        missed += self_test_alerts(rendered["dev"], charted)
        missed += self_test_routes(rendered["dev"])
        missed += self_test_keda(rendered["prod"])
        report.checks += 1
        for what in missed:
            report.problems.append(f"self-test: this break went unreported: {what}")

    sys.stdout.flush()
    for problem in report.problems:
        print(f"  PROBLEM {problem}", file=sys.stderr)
    sys.stderr.flush()
    passed = report.checks - len(report.problems)
    print(f"deploy validation: {passed} checks passed, {len(report.problems)} failed")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
