"""Generate docs/configuration.md from the services' settings classes.

    uv run --no-sync python scripts/gen_config_doc.py           # write docs/configuration.md
    uv run --no-sync python scripts/gen_config_doc.py --check   # exit 1 when it is stale

Every field of every service's settings class becomes a row: its environment variable, type,
default and description. The description is the field's `Field(description=...)` or, as the
code writes them, the comment lines right above the field (or at the end of its line), taken
from the class that declares it: a service's own comment wins over the shared one it
overrides. Secret settings (`SecretStr`, and the database URL, which carries a password) show
no default value (the database URL's defaults carry no password). tests/unit/test_configuration_doc.py fails when the committed file differs.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import io
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs/configuration.md"
# (service, settings class, environment prefix); the sandbox is a dataclass read by from_env.
SERVICES = (
    ("auth-broker", "auth_broker.config:Settings", "TTS_"),
    ("catalog-sync", "catalog_sync.config:Settings", "TTS_"),
    ("order-ingest", "order_ingest.config:Settings", "TTS_"),
    ("shipment-notifier", "shipment_notifier.config:Settings", "TTS_"),
    ("console", "console.config:Settings", "TTS_"),
    ("tiktok-sandbox", "tiktok_sandbox.settings:Settings", "SANDBOX_"),
)
SHARED = "tts_common.settings:ServiceSettings"
# Descriptions of settings whose declaration has no comment of its own (any service).
FALLBACK = {
    "environment": "dev, test or prod: prod refuses dev secrets and placeholder values",
    "http_host": "Address the HTTP server binds (0.0.0.0 in a container)",
    "http_port": "Port of the HTTP API and of /healthz, /readyz and /metrics",
    "max_header_bytes": "Largest request header block accepted",
    "body_timeout_seconds": "A request's body must have arrived within this long",
    "http_keep_alive_seconds": "An idle keep-alive connection is closed after this long",
    "database_url": "The service's own PostgreSQL database "
    "(postgresql+asyncpg://user:password@host:port/db); it carries a password: from a Secret",
    "db_pool_size": "Connections of the service's database pool, per process",
    "kafka_bootstrap": "Kafka bootstrap servers, host:port[,host:port...]",
    "log_level": "Level of the service's log",
    "log_json": "One JSON object per log line (false: plain text for a terminal)",
    "serve_api": "false (`<service> consume`): no API routes, only health, readiness and metrics",
    "service_credential": "This service's credential at the auth-broker (its `name:secret` "
    "entry of the broker's TTS_SERVICE_CREDENTIALS), presented to lease tokens",
    "tiktok_app_key": "The TikTok app's key (Partner Center); default: the sandbox's dev app",
    "tiktok_app_secret": "The TikTok app's secret, which signs every call; default: the "
    "sandbox's dev app",
}
# Fields whose comment describes them poorly or not at all, per (service, field).
DESCRIPTIONS = {
    ("auth-broker", "oauth_state_ttl_seconds"): "An authorize link (its OAuth state) is "
    "valid this long (docs/auth-broker.md)",
    ("auth-broker", "tiktok_service_id"): "The TikTok app's service id (Partner Center), "
    "part of the authorize link",
    ("auth-broker", "tiktok_auth_url"): "TikTok's token host (token get and refresh)",
    ("auth-broker", "tiktok_us_authorize_url"): "Host of the authorize page for US shops",
    ("auth-broker", "tiktok_global_authorize_url"): "Host of the authorize page for shops "
    "outside the US",
    ("auth-broker", "refresh_jitter_seconds"): "The refresher renews a token up to this much "
    "earlier again (random), so many connections authorized together do not refresh together",
    ("auth-broker", "refresher_interval_seconds"): "How often the background refresher looks "
    "for tokens to renew (±20 % per pass)",
    ("auth-broker", "refresher_enabled"): "false: no background refresher in this process "
    "(a lease still refreshes a token about to expire)",
    ("catalog-sync", "upload_body_timeout_seconds"): "A product upload's body may take this "
    "long to arrive: a 1,000,000-row snapshot streams for about 20 s "
    "(bench/results/catalog_intake.json)",
    ("catalog-sync", "upload_request_timeout_seconds"): "A product upload must be applied "
    "within this long; 0: no request timeout",
    ("catalog-sync", "run_concurrency"): "Products in flight per export run (docs/feeds.md, "
    '"Runs")',
    ("catalog-sync", "run_poll_seconds"): "How often an idle run executor looks for queued runs",
    ("catalog-sync", "run_stale_seconds"): "A running run silent this long (its process died) "
    "is taken over by another executor",
    ("catalog-sync", "event_batch_seconds"): "How often an event-driven feed gathers its "
    "changed parents into a run",
    ("catalog-sync", "audit_poll_seconds"): "A product still AUDITING with no news for this "
    'long is read with "Get Product 202309" (the safety net for a lost webhook)',
    ("catalog-sync", "audit_poll_batch"): "At most this many products read per audit poll pass",
    ("catalog-sync", "auth_broker_url"): "The auth-broker, which leases each connection's "
    "TikTok access token (docs/auth-broker.md)",
    ("catalog-sync", "tiktok_open_api_url"): "TikTok's Open API host; default: the sandbox",
    ("order-ingest", "retention_interval_seconds"): "How often the personal-data retention "
    "purge runs",
    ("order-ingest", "push_backoff_base_seconds"): "A failed OMS delivery waits this long "
    "before its first retry, doubling after each failure",
    ("order-ingest", "push_backoff_cap_seconds"): "The longest wait between two OMS delivery "
    "attempts",
    ("order-ingest", "push_max_attempts"): "An OMS delivery is dead after this many failed "
    "attempts (docs/orders.md)",
    ("order-ingest", "push_max_age_hours"): "An OMS delivery is dead once it has been retried "
    "for this long",
    ("order-ingest", "tiktok_open_api_url"): "TikTok's Open API host; default: the sandbox",
    ("shipment-notifier", "send_concurrency"): "Shipments in flight at once (docs/shipments.md, "
    '"Sending")',
    ("shipment-notifier", "send_poll_seconds"): "How often an idle sender looks for due shipments",
    ("shipment-notifier", "claim_stale_seconds"): "A claimed shipment whose process died is "
    "taken over (and reconciled first) after this long",
    ("shipment-notifier", "retry_base_seconds"): "A failed attempt waits this long before the "
    "next, doubling after each failure",
    ("shipment-notifier", "retry_cap_seconds"): "The longest wait between two attempts",
    ("shipment-notifier", "max_attempts"): "A shipment is rejected after this many failed attempts",
    ("shipment-notifier", "auth_broker_url"): "The auth-broker, which leases each "
    "connection's TikTok access token (docs/auth-broker.md)",
    ("shipment-notifier", "tiktok_open_api_url"): "TikTok's Open API host; default: the sandbox",
    ("console", "session_max_age_seconds"): "A console session ends this long after sign-in",
    ("tiktok-sandbox", "access_token_ttl_seconds"): "Lifetime of an access token it issues",
    ("tiktok-sandbox", "auth_code_ttl_seconds"): "Lifetime of an authorization code",
    ("tiktok-sandbox", "webhook_timeout_seconds"): "A webhook delivery gives up after this long",
    ("tiktok-sandbox", "timestamp_max_ahead_seconds"): "A signed request's timestamp may be "
    "this far ahead of the sandbox clock",
    ("catalog-sync", "image_recheck_seconds"): "An uploaded image's TikTok uri is reused "
    "without downloading the image again for this long; then it is downloaded and compared",
    ("console", "auth_broker_url"): "Base URL of the auth-broker's API",
    ("console", "catalog_sync_url"): "Base URL of catalog-sync's API",
    ("console", "order_ingest_url"): "Base URL of order-ingest's API",
    ("console", "shipment_notifier_url"): "Base URL of shipment-notifier's API",
    ("tiktok-sandbox", "app_key"): "The sandbox's TikTok app key (a public dev value)",
    ("tiktok-sandbox", "app_secret"): "The sandbox's app secret (a public dev value; the "
    "services' TTS_TIKTOK_APP_SECRET in dev)",
    ("tiktok-sandbox", "service_id"): "The dev app's Partner Center service id",
    ("tiktok-sandbox", "redirect_url"): "Where the authorize page sends the seller back: the "
    "auth-broker's /v1/oauth/callback",
}
HIDDEN = "(secret: not shown)"


def load(ref: str) -> type:
    module, _, name = ref.partition(":")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def field_comments(cls: type) -> dict[str, str]:
    """The comments of each field declared in `cls`'s own body (not its bases'): the comment
    lines right above it and the one at the end of its line. A comment above a group of
    fields describes the first only; FALLBACK and DESCRIPTIONS describe the others."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    source = "".join(lines)
    comments: dict[int, str] = {}  # line (1-based in `source`) -> comment text
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.add(tok.start[0])
    out: dict[str, str] = {}
    body_indent = None
    for i, line in enumerate(lines, start=1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or i == 1 or stripped.startswith(("#", "@", '"', "def ", "class ", ")")):
            continue
        if body_indent is None:
            body_indent = indent
        if indent != body_indent or ":" not in stripped:
            continue
        name = stripped.split(":", 1)[0].strip()
        if not name.isidentifier():
            continue
        above: list[str] = []
        j = i - 1
        while j >= 1 and j in comments and j not in code_lines:
            above.insert(0, comments[j])
            j -= 1
        inline = comments.get(i, "") if i in code_lines else ""
        text = " ".join(part for part in (*above, inline) if part)
        if text:
            out[name] = text
    return out


@dataclasses.dataclass
class Row:
    variable: str
    type: str
    default: str
    description: str


def _type_name(annotation: Any) -> str:
    if annotation is SecretStr:
        return "secret"
    if getattr(annotation, "__origin__", None) is Literal:
        return "one of " + ", ".join(str(a) for a in annotation.__args__)
    text = getattr(annotation, "__name__", None) or str(annotation)
    return str(text).replace("typing.", "")


def _default(value: Any, secret: bool) -> str:
    if secret:
        return HIDDEN
    if value is PydanticUndefined or value is dataclasses.MISSING:
        return "(required)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if value == "":
        return '""'
    return str(value)


def _constraints(metadata: list[Any]) -> str:
    parts = []
    for m in metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sign} {v}")
    return f" ({', '.join(parts)})" if parts else ""


def _described(service: str, cls: type) -> dict[str, str]:
    """FALLBACK, then the field comments along the MRO (the most derived declaration's
    comment wins), then DESCRIPTIONS over all."""
    merged: dict[str, str] = dict(FALLBACK)
    for klass in reversed(cls.__mro__):
        if klass.__module__.split(".")[0] in ("pydantic", "pydantic_settings", "builtins"):
            continue
        # The shared class writes one comment per field, with no blank line between groups.
        merged.update(field_comments(klass))
    merged.update({f: d for (svc, f), d in DESCRIPTIONS.items() if svc == service})
    return merged


def rows(service: str, cls: type, prefix: str) -> Iterator[Row]:
    described = _described(service, cls)
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            default = f.default
            if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            # repr=False fields are the sandbox's own (public, dev-only) app secret.
            shown = "(dev value)" if not f.repr else _default(default, False)
            yield Row((prefix + f.name).upper(), _type_name(f.type), shown,
                      described.get(f.name, ""))  # fmt: skip
        return
    for name, field in cls.model_fields.items():  # type: ignore[attr-defined]
        secret = field.annotation is SecretStr
        description = field.description or described.get(name, "")
        yield Row(
            (prefix + name).upper(),
            _type_name(field.annotation) + _constraints(field.metadata),
            _default(field.default, secret),
            description,
        )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows_: list[Row]) -> list[str]:
    out = ["| variable | type | default | description |", "|---|---|---|---|"]
    for row in rows_:
        out.append(
            f"| `{row.variable}` | {_cell(row.type)} | `{_cell(row.default)}` "
            f"| {_cell(row.description)} |"
        )
    return [*out, ""]


def render() -> str:
    shared_cls = load(SHARED)
    shared = {r.variable: r for r in rows("*", shared_cls, "TTS_")}
    out = [
        "# Configuration",
        "",
        "<!-- Generated by scripts/gen_config_doc.py from the settings classes; do not edit.",
        "     Regenerate: uv run --no-sync python scripts/gen_config_doc.py -->",
        "",
        "Every service reads its settings from environment variables with the `TTS_` prefix",
        "(one pydantic-settings class per service, built on `tts_common.settings.ServiceSettings`;",
        "docs/architecture.md). A bad value stops the process at start with exit code 2 and one",
        "line per bad variable. Secret settings show no default here; with `TTS_ENVIRONMENT=prod`",
        "a service refuses to start while a secret still has its dev value. On Kubernetes the",
        "secrets come from each service's Secret (deploy/k8s/secrets.example.yaml), the rest from",
        "the `tts-config` ConfigMap and the Deployments (deploy/k8s/README.md).",
        "",
        "## Every service",
        "",
        "`tts_common.settings.ServiceSettings`: each service below has these too; where a",
        "service's default differs, its table repeats the setting with that default.",
        "",
        *_table(list(shared.values())),
    ]
    for service, ref, prefix in SERVICES:
        cls = load(ref)
        out += [f"## {service}", "", f"`{ref.replace(':', '.')}`", ""]
        own = []
        for row in rows(service, cls, prefix):
            base = shared.get(row.variable) if prefix == "TTS_" else None
            if base is None:
                own.append(row)
            elif base.default != row.default:
                own.append(dataclasses.replace(row, description=row.description + " (shared)"))
        out += _table(own)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            sys.stderr.write(f"{OUT.relative_to(ROOT)} is stale: run scripts/gen_config_doc.py\n")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
