#!/usr/bin/env python3
"""Checks what the Compose schema cannot: the deployment rules of sheetmesh.

    compose_policy.py DEV_COMPOSE PROD_COMPOSE

Both files: every sheetmesh service has a health check through
`sheetmesh health-probe`, and every depends_on waits for health.
Production: every service has a restart policy, json-file log rotation and a
memory and CPU limit; only the gateway publishes a port (Jaeger's UI, under
the `tracing` profile, on loopback only); Redis requires a password, keeps an
AOF with `appendfsync everysec`, bounds its memory and lives on a volume; the
backend network is internal; agent and sheets-sync replicas are settable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def sheetmesh_services(compose: dict) -> dict:
    return {name: s for name, s in compose["services"].items() if "sheetmesh" in str(s.get("image", ""))}


def check_common(path: str, compose: dict, problems: list[str]) -> None:
    components = sheetmesh_services(compose)
    if set(components) != {"cache", "sheets-sync", "agent", "gateway"}:
        problems.append(f"{path}: expected the four components from the one image, found {sorted(components)}")
    for name, service in components.items():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:3] != ["CMD", "sheetmesh", "health-probe"]:
            problems.append(f"{path}: {name}: health check is not `sheetmesh health-probe` ({test})")
        if not service.get("read_only"):
            problems.append(f"{path}: {name}: root filesystem is not read-only")
    for name, service in compose["services"].items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            wanted = "service_started" if "profiles" in compose["services"][dependency] else "service_healthy"
            if rule.get("condition") != wanted:
                problems.append(f"{path}: {name} depends on {dependency} without condition {wanted}")


def check_prod(path: str, compose: dict, problems: list[str]) -> None:
    for name, service in compose["services"].items():
        if service.get("restart") not in ("always", "unless-stopped"):
            problems.append(f"{path}: {name}: no restart policy")
        logging = service.get("logging", {})
        options = logging.get("options", {})
        if logging.get("driver") != "json-file" or not {"max-size", "max-file"} <= options.keys():
            problems.append(f"{path}: {name}: no json-file log rotation (max-size, max-file)")
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if not {"cpus", "memory"} <= limits.keys():
            problems.append(f"{path}: {name}: no cpus and memory limits")
        for port in service.get("ports", []):
            loopback = str(port).startswith("127.0.0.1:")
            if name != "gateway" and not (loopback and "profiles" in service):
                problems.append(f"{path}: {name} publishes {port}: only the gateway may")
        networks = service.get("networks", [])
        if "backend" not in networks:
            problems.append(f"{path}: {name} is not on the backend network")
    for name in ("agent", "sheets-sync"):
        replicas = str(compose["services"][name].get("deploy", {}).get("replicas", ""))
        if not replicas.startswith("${"):
            problems.append(f"{path}: {name}: deploy.replicas is not settable from the environment")
    if compose.get("networks", {}).get("backend", {}).get("internal") is not True:
        problems.append(f"{path}: the backend network is not internal")
    redis = compose["services"]["redis"]
    command = " ".join(redis.get("command", [])) if isinstance(redis.get("command"), list) else str(redis.get("command"))
    for flag in ("--requirepass", "--appendonly yes", "--appendfsync everysec", "--maxmemory ", "--maxmemory-policy"):
        if flag not in command:
            problems.append(f"{path}: redis command lacks {flag.strip()}")
    if "healthcheck" not in redis:
        problems.append(f"{path}: redis has no health check")
    if not any(str(volume).endswith(":/data") for volume in redis.get("volumes", [])):
        problems.append(f"{path}: redis has no volume on /data")
    profiles = {name: s.get("profiles", []) for name, s in compose["services"].items()}
    if profiles.get("otel-collector") != ["tracing"] or profiles.get("jaeger") != ["tracing"]:
        problems.append(f"{path}: otel-collector and jaeger must be under the `tracing` profile")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: compose_policy.py DEV_COMPOSE PROD_COMPOSE", file=sys.stderr)
        return 2
    problems: list[str] = []
    dev, prod = (yaml.safe_load(Path(p).read_text()) for p in argv[1:])
    check_common(argv[1], dev, problems)
    check_common(argv[2], prod, problems)
    check_prod(argv[2], prod, problems)
    for problem in problems:
        print(f"compose policy: {problem}", file=sys.stderr)
    if not problems:
        print("compose policy: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
