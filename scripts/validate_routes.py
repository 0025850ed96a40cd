"""One entry point for the dashboard and the admin APIs (imported by validate_deploy.py).

The route table is `k8s/base/routes.json`, the output of `ferry routes` (a Rust test keeps it
equal to services/platform/src/routes.rs, the table the services check their routes against).
From it:

- k8s/base/ingress.yaml: one `Prefix` path per route to the Service `ferry-<service>` on port
  `admin`, TLS for every host;
- k8s/components/gateway-api/httproute.yaml: the same as Gateway API `PathPrefix` matches
  (a Kustomize component: include it where the Gateway API CRDs are installed);
- the NetworkPolicy `ferry-allow-ingress-controller` admits the ingress controller to exactly
  the services of the table.

`--write-routes` regenerates both files; the checks compare the rendered overlays with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ROUTES = ROOT / "k8s" / "base" / "routes.json"
INGRESS = ROOT / "k8s" / "base" / "ingress.yaml"
HTTPROUTE = ROOT / "k8s" / "components" / "gateway-api" / "httproute.yaml"
HOST = "ferry.example.com"
TLS_SECRET = "ferry-tls"
INGRESS_POLICY = "ferry-allow-ingress-controller"


def load_routes() -> list[dict]:
    return json.loads(ROUTES.read_text())


def ingress(routes: list[dict]) -> dict:
    paths = [{
        "path": r["prefix"],
        "pathType": "Prefix",
        "backend": {"service": {"name": f"ferry-{r['service']}", "port": {"name": "admin"}}},
    } for r in routes]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "ferry", "labels": {"app.kubernetes.io/part-of": "ferry"}},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [HOST], "secretName": TLS_SECRET}],
            "rules": [{"host": HOST, "http": {"paths": paths}}],
        },
    }


def httproute(routes: list[dict], ports: dict[str, int]) -> dict:
    rules = [{
        "matches": [{"path": {"type": "PathPrefix", "value": r["prefix"]}}],
        "backendRefs": [{"name": f"ferry-{r['service']}", "port": ports[r["service"]]}],
    } for r in routes]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "ferry", "labels": {"app.kubernetes.io/part-of": "ferry"}},
        "spec": {
            # The Gateway's HTTPS listener terminates TLS (certificate Secret `ferry-tls`).
            "parentRefs": [{"name": "ferry", "sectionName": "https"}],
            "hostnames": [HOST],
            "rules": rules,
        },
    }


def write(ports: dict[str, int]) -> None:
    routes = load_routes()
    head = ("# GENERATED from k8s/base/routes.json (`ferry routes`) by\n"
            "# `scripts/validate-deploy.sh --write-routes`; do not edit by hand.\n")
    INGRESS.write_text(
        head + "# Host and TLS Secret (ferry.example.com, ferry-tls): patch them in your overlay.\n"
        + yaml.safe_dump(ingress(routes), sort_keys=False))
    HTTPROUTE.write_text(
        head + "# Needs the Gateway API CRDs and a Gateway `ferry` with an HTTPS listener `https`.\n"
        + yaml.safe_dump(httproute(routes, ports), sort_keys=False))


def paths_of(obj: dict) -> list[tuple[str, str, Any]]:
    if obj.get("kind") == "Ingress":
        return sorted((p["path"], p["pathType"], p["backend"]["service"]["name"])
                      for rule in obj["spec"].get("rules", [])
                      for p in rule.get("http", {}).get("paths", []))
    return sorted((m["path"]["value"], m["path"]["type"], ref["name"])
                  for rule in obj["spec"].get("rules", [])
                  for m in rule.get("matches", []) for ref in rule.get("backendRefs", []))


def expected_paths(routes: list[dict], path_type: str) -> list[tuple[str, str, Any]]:
    return sorted((r["prefix"], path_type, f"ferry-{r['service']}") for r in routes)


def check_overlay(where: str, objects: list[dict], routes: list[dict], report: Any) -> None:
    ingresses = [o for o in objects if o.get("kind") == "Ingress"]
    if not report.check(len(ingresses) == 1, f"{where}: expected one Ingress"):
        return
    ing = ingresses[0]
    report.check(paths_of(ing) == expected_paths(routes, "Prefix"),
                 f"{where}: Ingress paths differ from the route table k8s/base/routes.json "
                 "(regenerate: scripts/validate-deploy.sh --write-routes)")
    hosts = {r.get("host") for r in ing["spec"].get("rules", [])}
    tls_hosts = {h for t in ing["spec"].get("tls", []) for h in t.get("hosts", [])}
    report.check(bool(tls_hosts) and hosts <= tls_hosts,
                 f"{where}: Ingress hosts {sorted(map(str, hosts))} must all be covered by TLS")
    services = {(o["metadata"]["name"]): o for o in objects if o.get("kind") == "Service"}
    for path, _, backend in paths_of(ing):
        svc = services.get(backend)
        if report.check(svc is not None, f"{where}: Ingress {path} -> missing Service {backend}"):
            report.check(any(p.get("name") == "admin" for p in svc["spec"].get("ports", [])),
                         f"{where}: Service {backend} has no port admin")
    policy = next((o for o in objects if o.get("kind") == "NetworkPolicy"
                   and o["metadata"]["name"] == INGRESS_POLICY), None)
    if report.check(policy is not None, f"{where}: no NetworkPolicy {INGRESS_POLICY}"):
        selected = {v for e in policy["spec"]["podSelector"].get("matchExpressions", [])
                    if e.get("key") == "app.kubernetes.io/name" for v in e.get("values", [])}
        report.check(selected == {r["service"] for r in routes},
                     f"{where}: {INGRESS_POLICY} admits {sorted(selected)}, the route table "
                     f"routes to {sorted({r['service'] for r in routes})}")


def check_httproute(routes: list[dict], ports: dict[str, int], report: Any) -> None:
    where = "k8s/components/gateway-api/httproute.yaml"
    route = yaml.safe_load(HTTPROUTE.read_text())
    report.check(route == httproute(routes, ports),
                 f"{where}: differs from the route table (regenerate: "
                 "scripts/validate-deploy.sh --write-routes)")
    report.check(paths_of(route) == expected_paths(routes, "PathPrefix"),
                 f"{where}: paths differ from the route table")
