"""Field mapping: the OMS's own shipment payload → the notifier's shipment fields (the
export's "map the needed attributes from import to export", docs/shipments.md).

A mapping is `{target field: source path}`. A path is dotted (`shipment.tracking.code`); a
segment ending in `[]` collects that key from every element of a list
(`lines[].tiktok_line_id` → a list). Targets the mapping leaves out are read from the payload
under their own name, so a payload already in the notifier's shape needs no mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TARGETS = (
    "order_id",
    "tracking_number",
    "carrier",
    "shipping_provider_id",
    "shipped_at",
    "line_item_ids",
    "shipment_id",
)


def validate_mapping(mapping: Mapping[str, str]) -> list[str]:
    """Problems of a mapping (unknown targets, empty paths); empty when it is usable."""
    problems = []
    for target, path in mapping.items():
        if target not in TARGETS:
            problems.append(f"{target}: not a shipment field (one of {', '.join(TARGETS)})")
        elif not isinstance(path, str) or not path.strip(".[] "):
            problems.append(f"{target}: the source path must be a non-empty dotted path")
    return problems


def _read(value: Any, segments: list[str]) -> Any:
    if not segments:
        return value
    head, rest = segments[0], segments[1:]
    if head.endswith("[]"):
        items = value.get(head[:-2]) if isinstance(value, Mapping) else None
        if not isinstance(items, list):
            return None
        return [v for v in (_read(item, rest) for item in items) if v is not None]
    if isinstance(value, Mapping):
        return _read(value.get(head), rest)
    return None


def apply(mapping: Mapping[str, str], payload: Mapping[str, Any]) -> dict[str, Any]:
    """The shipment fields found in `payload` (absent ones are left out, for validation)."""
    out: dict[str, Any] = {}
    for target in TARGETS:
        path = mapping.get(target)
        value = _read(payload, path.split(".")) if path else payload.get(target)
        if value is None or value == "":
            continue
        if target != "line_item_ids" and not isinstance(value, str | list | dict):
            value = str(value)  # ids and tracking numbers from a CSV or JSON number
        out[target] = value
    return out
