"""deploy/k8s against the services' settings classes: every `TTS_*` variable a manifest sets
(a container's `env`, the shared ConfigMap, the keys of the service's Secret in
secrets.example.yaml) is a real setting of that service, secrets come only from Secrets, and
each service has an API tier and a worker tier with probes on /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from auth_broker.config import Settings as BrokerSettings
from catalog_sync.config import Settings as CatalogSettings
from console.config import Settings as ConsoleSettings
from order_ingest.config import Settings as OrdersSettings
from pydantic import SecretStr
from pydantic_settings import BaseSettings
from shipment_notifier.config import Settings as ShipmentsSettings

K8S = Path(__file__).resolve().parents[2] / "deploy/k8s"
SETTINGS: dict[str, type[BaseSettings]] = {
    "auth-broker": BrokerSettings,
    "catalog-sync": CatalogSettings,
    "order-ingest": OrdersSettings,
    "shipment-notifier": ShipmentsSettings,
    "console": ConsoleSettings,
}
WITH_WORKERS = ("auth-broker", "catalog-sync", "order-ingest", "shipment-notifier")
# Settings that are secrets although typed `str`: the database URL carries a password.
SECRET_STR = frozenset({"database_url"})
# Inherited by the console and unused: it has no database and checks no API keys.
CONSOLE_UNUSED = frozenset({"TTS_DATABASE_URL", "TTS_API_KEYS"})


def documents(*names: str) -> Iterator[dict[str, Any]]:
    for name in names:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc:
                yield doc


def applied() -> list[dict[str, Any]]:
    """Every object `kubectl apply -k deploy/k8s` applies."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return list(documents(*kustomization["resources"]))


def by_kind(kind: str, docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def variables(cls: type[BaseSettings]) -> dict[str, bool]:
    """`TTS_<FIELD>` -> whether the setting is a secret."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    return {
        (prefix + name).upper(): field.annotation is SecretStr or name in SECRET_STR
        for name, field in cls.model_fields.items()
    }


def set_by(
    container: dict[str, Any], maps: dict[str, Any], secrets: dict[str, Any]
) -> Iterator[tuple[str, str]]:
    """(variable, where: "value" | "configmap" | "secret") of everything the container sets."""
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            assert name in maps, f"ConfigMap {name} is not in the kustomization"
            for key in maps[name]["data"]:
                yield key, "configmap"
        elif "secretRef" in source:
            name = source["secretRef"]["name"]
            assert name in secrets, f"Secret {name} is not in secrets.example.yaml"
            for key in secrets[name]["stringData"]:
                yield key, "secret"
        else:
            raise AssertionError(f"unexpected envFrom {source}")
    for env in container.get("env", []):
        if "value" in env:
            yield env["name"], "value"
        elif "secretKeyRef" in env.get("valueFrom", {}):
            yield env["name"], "secret"
        else:
            yield env["name"], "configmap"


def test_the_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secrets.example.yaml"}
    assert set(kustomization["resources"]) == on_disk
    assert not by_kind("Secret", applied()), "real secrets are never committed"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_variable_is_a_setting_and_secrets_come_from_secrets(service: str) -> None:
    docs = applied()
    maps = by_kind("ConfigMap", docs)
    secrets = by_kind("Secret", list(documents("secrets.example.yaml")))
    known = variables(SETTINGS[service])
    deployments = [
        d for d in by_kind("Deployment", docs).values() if d["metadata"]["labels"]["app"] == service
    ]
    assert deployments, f"no Deployment of {service}"
    seen: set[str] = set()
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for variable, where in set_by(container, maps, secrets):
                where_ = f"{deployment['metadata']['name']}/{container['name']}: {variable}"
                assert variable in known, f"{where_} is no setting of {service}"
                if known[variable]:
                    assert where == "secret", f"{where_} is a secret but set from a {where}"
                seen.add(variable)
    # Every secret setting of the service is given, from the Secret.
    for variable, secret in known.items():
        if secret and not (service == "console" and variable in CONSOLE_UNUSED):
            assert variable in seen, f"{service}: {variable} is set by no manifest"


@pytest.mark.parametrize("service", WITH_WORKERS)
def test_api_and_workers_scale_separately_with_probes(service: str) -> None:
    deployments = by_kind("Deployment", applied())
    api, worker = deployments[service], deployments[f"{service}-worker"]
    commands = {}
    for tier, d in (("api", api), ("worker", worker)):
        assert d["spec"]["selector"]["matchLabels"] == {"app": service, "tier": tier}
        (container,) = d["spec"]["template"]["spec"]["containers"]
        commands[tier] = container["command"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        (init,) = d["spec"]["template"]["spec"]["initContainers"]
        assert init["command"] == [service, "migrate"]
    assert commands["api"] == [service, "serve", "--no-migrate", "--no-workers"]
    assert commands["worker"] == [service, "consume", "--no-migrate"]
    svc = by_kind("Service", applied())[service]
    assert svc["spec"]["selector"] == {"app": service, "tier": "api"}, "API pods only"


def test_the_console_has_probes_and_a_service() -> None:
    docs = applied()
    (container,) = by_kind("Deployment", docs)["console"]["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "console" in by_kind("Service", docs)
