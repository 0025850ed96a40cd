"""KEDA objects of the overlays (imported by validate_deploy.py): every ScaledObject and
TriggerAuthentication against the fields KEDA documents (scripts/keda.schema.json; an unknown
field is an error, since KEDA ignores it silently), and what they point at: the RabbitMQ
trigger reads the queue the target service consumes (its name without a bus prefix, as the
manifests set none), through a TriggerAuthentication reading the services' own AMQP URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).resolve().parent / "keda.schema.json").read_text())


def check_schema(where: str, objects: list[dict], report: Any) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for obj in objects:
        if not obj.get("apiVersion", "").startswith("keda.sh/"):
            continue
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        report.check(not errors, f"{where}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}: "
                     + "; ".join(e.message for e in errors[:3]))


def check_scaled_object(where: str, scaled: dict, service: str,
                        by_kind: dict[str, list[dict]], report: Any) -> None:
    name = scaled["metadata"]["name"]
    triggers = scaled["spec"].get("triggers", [])
    rabbit = [t for t in triggers if t.get("type") == "rabbitmq"]
    if not report.check(bool(rabbit), f"{where}: ScaledObject {name}: no rabbitmq trigger"):
        return
    for trigger in rabbit:
        queue = trigger.get("metadata", {}).get("queueName")
        report.check(queue == service,
                     f"{where}: ScaledObject {name}: queueName {queue!r} is not {service!r}, "
                     "the queue the service consumes")
        auth_name = trigger.get("authenticationRef", {}).get("name")
        auth = next((a for a in by_kind.get("TriggerAuthentication", [])
                     if a["metadata"]["name"] == auth_name), None)
        if report.check(auth is not None,
                        f"{where}: ScaledObject {name}: no TriggerAuthentication {auth_name!r}"):
            refs = auth["spec"].get("secretTargetRef", [])
            report.check(any(r.get("parameter") == "host" and r.get("name") == "ferry-secrets"
                             and r.get("key") == "amqp-url" for r in refs),
                         f"{where}: TriggerAuthentication {auth_name}: must read `host` from "
                         "ferry-secrets/amqp-url (the services' broker)")
    fallback = scaled["spec"].get("fallback")
    report.check(fallback is not None,
                 f"{where}: ScaledObject {name}: needs a fallback for when the queue cannot be read")
