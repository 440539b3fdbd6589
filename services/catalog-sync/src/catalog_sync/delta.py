"""The delta: what one product needs at TikTok, from its desired payload and what TikTok has.

Only what changed costs API calls (docs/feeds.md, "Runs and the delta"):

| stored state | desired | action |
|---|---|---|
| none | a product | `create` (or `adopt` with `adopt_existing`: link a listing with the same seller SKUs) |
| a create or edit whose outcome is unknown | anything | `reconcile` first: search by seller SKU |
| live, same content, same SKUs, same prices and stock | same | `skip` |
| live, content or the set of SKUs changed | changed | `edit` (a removed variant: an edit without that SKU) |
| live, only some SKUs' prices changed | | `price` (Update Price, no re-audit) |
| live, only some SKUs' stock changed | | `inventory` (Update Inventory, no re-audit) |
| live | gone from the source | `delete` (batched, under the mass-deletion guard) |

Pure: the run (`runs.py`) loads the stored state, asks `plan`, performs the actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Action(StrEnum):
    CREATE = "create"
    ADOPT = "adopt"
    RECONCILE = "reconcile"
    EDIT = "edit"
    PRICE = "price"
    INVENTORY = "inventory"
    DELETE = "delete"
    SKIP = "skip"
    NOT_READY = "not_ready"


# Writes that may have reached TikTok without our knowing the outcome: the next step for the
# product is a reconciliation, never a blind retry (a second create would list it twice).
UNCERTAIN = frozenset({"creating", "unknown"})


class SkuHashes(Protocol):
    @property
    def price_hash(self) -> str: ...

    @property
    def inventory_hash(self) -> str: ...


class Desired(Protocol):
    """What the payload builder produced for one product."""

    @property
    def content_hash(self) -> str: ...

    @property
    def skus(self) -> Mapping[str, SkuHashes]: ...


@dataclass(frozen=True)
class StoredSku:
    price_hash: str
    inventory_hash: str
    sku_id: str | None = None


@dataclass(frozen=True)
class Stored:
    """What TikTok last accepted for one product (a `tiktok_products` row)."""

    status: str  # creating | unknown | live | failed | deleted
    tiktok_product_id: str | None
    content_hash: str | None
    skus: Mapping[str, StoredSku] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    price_skus: tuple[str, ...] = ()
    inventory_skus: tuple[str, ...] = ()
    why: str = ""

    @property
    def writes(self) -> bool:
        return any(a not in (Action.SKIP, Action.NOT_READY) for a in self.actions)


def plan(desired: Desired | None, stored: Stored | None, *, adopt_existing: bool = False) -> Plan:
    """The actions one product needs; `desired` None means gone from the source."""
    if stored is not None and stored.status in UNCERTAIN:
        return Plan((Action.RECONCILE,), why="the last write's outcome is unknown")
    live = stored is not None and stored.status != "deleted" and bool(stored.tiktok_product_id)
    if desired is None:
        if live:
            return Plan((Action.DELETE,), why="gone from the source")
        return Plan((Action.SKIP,), why="gone from the source, not at TikTok")
    if not live:
        if adopt_existing:
            return Plan((Action.ADOPT,), why="new here; adopt a listing with its seller SKUs")
        return Plan((Action.CREATE,), why="not at TikTok yet")
    assert stored is not None
    if stored.status == "failed" or stored.content_hash != desired.content_hash:
        return Plan((Action.EDIT,), why="content changed")
    if set(stored.skus) != set(desired.skus):
        return Plan((Action.EDIT,), why="variants added or removed")
    price = tuple(
        sorted(s for s, h in desired.skus.items() if stored.skus[s].price_hash != h.price_hash)
    )
    stock = tuple(
        sorted(
            s for s, h in desired.skus.items() if stored.skus[s].inventory_hash != h.inventory_hash
        )
    )
    actions = tuple(
        a for a, todo in ((Action.PRICE, price), (Action.INVENTORY, stock)) if todo
    ) or (Action.SKIP,)
    why = "unchanged" if actions == (Action.SKIP,) else "only prices or stock changed"
    return Plan(actions, price_skus=price, inventory_skus=stock, why=why)
