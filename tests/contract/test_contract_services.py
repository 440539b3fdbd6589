"""Every service answers as its OpenAPI document says (schemathesis against the real app).

Each service is booted as `<service> serve` would run it — uvicorn with `server_options`, real
PostgreSQL (a fresh, migrated database) and real Kafka — and schemathesis generates requests
for every documented operation. Checks: no 5xx (`not_a_server_error`), only documented
statuses (`status_code_conformance`), documented media types (`content_type_conformance`) and
bodies that fit their schema (`response_schema_conformance`). Runs are derandomized and
bounded (`EXAMPLES` per operation and mode) so the suite stays fast and repeatable.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tts_common.api_auth import DEV_API_KEY
from tts_common.migrate import migrate
from tts_common.testing.server import serving

pytestmark = [
    pytest.mark.integration,
    # The service runs in this process (a uvicorn thread); its Kafka clients draw from the
    # `random` module while hypothesis generates a case, which hypothesis reports as a
    # strategy using `random`. It is not one, and the cases stay derandomized.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module inside strategies"
        ":hypothesis.errors.HypothesisDeprecationWarning"
    ),
]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 40
# The dev credentials every service accepts in environment=dev (auth_broker/config.py,
# tts_common/api_auth.py): admin key, service credential, API key.
BROKER_AUTH = {"x-api-key": "dev-admin-key", "authorization": "Bearer dev-service-credential"}
API_KEY_AUTH = {"x-api-key": DEV_API_KEY}


@dataclass(frozen=True)
class Service:
    module: str
    auth: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)


SERVICES = [
    # The refresher has nothing to refresh and is not what this run checks.
    Service("auth_broker", BROKER_AUTH, {"refresher_enabled": False}),
    Service("catalog_sync", API_KEY_AUTH),
    Service("order_ingest", API_KEY_AUTH),
    Service("shipment_notifier", API_KEY_AUTH),
]


def run_schema(
    base: str,
    *,
    mode: GenerationMode,
    headers: dict[str, str] | None,
    path_parameters: dict[str, str] | None = None,
    checks: list[Any] = CHECKS,
    skip: tuple[str, ...] = (),
) -> list[str]:
    """Every operation (but those whose path starts with one of `skip`); the failures, as text."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []
    ran = 0
    seen: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if skip and operation.path.startswith(skip):
            continue
        params = {
            k: v for k, v in (path_parameters or {}).items() if "{" + k + "}" in operation.path
        }
        if path_parameters and not params:
            continue
        strategy = operation.as_strategy(
            generation_mode=mode, headers=headers, path_parameters=params or None
        )

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )
        @given(case=strategy)
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(base_url=base, checks=checks)
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        ran += 1
        try:
            check()
        except Unsatisfiable:
            pass  # negative mode: nothing of this operation can be made invalid
        except FailureGroup as group:  # every operation's failures, not just the first
            found = "\n".join(
                f"- {failure.title}: {failure.message}" for failure in group.exceptions
            )
            failures.append(f"{operation.label} [{mode.value}]:\n{found}")
        except Exception as exc:
            inner = getattr(exc, "exceptions", ())  # e.g. hypothesis' FlakyFailure group
            details = "".join(f"\n  - {type(e).__name__}: {e}"[:2000] for e in inner)
            failures.append(
                f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}{details}"
            )
    assert ran, "no operation matched"
    print(f"{mode.value} statuses:", {label: sorted(codes) for label, codes in seen.items()})
    return failures


def _boot(service: Service, database_url: str, kafka_bootstrap: str) -> Any:
    config = importlib.import_module(f"{service.module}.config")
    app_mod = importlib.import_module(f"{service.module}.app")
    cli = importlib.import_module(f"{service.module}.cli")
    migrate(database_url, Path(cli.MIGRATIONS), app_mod.NAME)
    settings_ = config.Settings(
        database_url=database_url, kafka_bootstrap=kafka_bootstrap, **service.settings
    )
    return app_mod.create_app(settings_)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.module)
def test_service_answers_as_documented(
    service: Service, fresh_database: str, kafka_bootstrap: str
) -> None:
    app = _boot(service, fresh_database, kafka_bootstrap)
    with serving(app, ready_path="/readyz") as base:
        failures = run_schema(base, mode=GenerationMode.POSITIVE, headers=service.auth)
        failures += run_schema(base, mode=GenerationMode.NEGATIVE, headers=service.auth)
        # Without credentials: the 401s must be documented too (random header values).
        failures += run_schema(base, mode=GenerationMode.POSITIVE, headers=None)
        if service.module == "auth_broker":
            failures += _broker_existing_connection(base)
    assert not failures, "\n\n".join(failures)


def _broker_existing_connection(base: str) -> list[str]:
    """The `{connection_id}` operations on a connection that exists (random ids only 404)."""
    with httpx.Client(base_url=base, headers=BROKER_AUTH) as client:
        created = client.post("/v1/connections", json={"name": "contract", "market": "US"})
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
    return run_schema(
        base,
        mode=GenerationMode.POSITIVE,
        headers=BROKER_AUTH,
        path_parameters={"connection_id": connection_id},
    )


def test_sandbox_answers_without_server_errors() -> None:
    """The sandbox mimics TikTok's API: errors are TikTok envelopes (HTTP 200 or 4xx with a
    `code`), which its OpenAPI does not list, so only `not_a_server_error` holds it here.
    The fault injection admin API is skipped: a fault it configures answers 5xx by design."""
    from tiktok_sandbox.app import create_app

    with serving(create_app(), ready_path="/healthz") as base:
        failures = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += run_schema(
                base,
                mode=mode,
                headers=None,
                checks=[not_a_server_error],
                skip=("/sandbox/v1/faults",),
            )
    assert not failures, "\n\n".join(failures)
