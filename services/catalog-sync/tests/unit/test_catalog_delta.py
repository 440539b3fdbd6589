"""The delta planner: each stored state and desired payload → the actions that cost API calls."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from catalog_sync.delta import Action, Stored, StoredSku, plan


@dataclass(frozen=True)
class Sku:
    price_hash: str
    inventory_hash: str


@dataclass(frozen=True)
class Want:
    content_hash: str
    skus: dict[str, Sku] = field(default_factory=dict)


WANT = Want("c1", {"a": Sku("p1", "i1"), "b": Sku("p2", "i2")})
LIVE = Stored(
    "live", "1729", "c1", {"a": StoredSku("p1", "i1", "s-a"), "b": StoredSku("p2", "i2", "s-b")}
)


def test_unchanged_is_a_skip_without_writes() -> None:
    result = plan(WANT, LIVE)
    assert result.actions == (Action.SKIP,) and not result.writes


def test_new_products_are_created_or_adopted() -> None:
    assert plan(WANT, None).actions == (Action.CREATE,)
    assert plan(WANT, None, adopt_existing=True).actions == (Action.ADOPT,)
    deleted = Stored("deleted", "1729", "c1", LIVE.skus)
    assert plan(WANT, deleted).actions == (Action.CREATE,)


@pytest.mark.parametrize("status", ["creating", "unknown"])
def test_an_uncertain_write_is_reconciled_before_anything_else(status: str) -> None:
    for stored in (Stored(status, None, None), Stored(status, "1729", "c0", LIVE.skus)):
        assert plan(WANT, stored).actions == (Action.RECONCILE,)
        assert plan(None, stored).actions == (Action.RECONCILE,)
        assert plan(WANT, stored, adopt_existing=True).actions == (Action.RECONCILE,)


def test_content_change_or_a_removed_variant_is_an_edit() -> None:
    assert plan(Want("c2", WANT.skus), LIVE).actions == (Action.EDIT,)
    one_variant = Want("c1", {"a": Sku("p1", "i1")})
    assert plan(one_variant, LIVE).actions == (Action.EDIT,)
    assert plan(WANT, Stored("failed", "1729", "c1", LIVE.skus)).actions == (Action.EDIT,)


def test_price_and_stock_only_changes_use_their_own_calls() -> None:
    price = plan(Want("c1", {"a": Sku("p9", "i1"), "b": Sku("p2", "i2")}), LIVE)
    assert price.actions == (Action.PRICE,) and price.price_skus == ("a",)
    both = plan(Want("c1", {"a": Sku("p9", "i1"), "b": Sku("p2", "i7")}), LIVE)
    assert both.actions == (Action.PRICE, Action.INVENTORY)
    assert (both.price_skus, both.inventory_skus) == (("a",), ("b",))


def test_gone_from_the_source_is_a_delete_only_when_live() -> None:
    assert plan(None, LIVE).actions == (Action.DELETE,)
    assert plan(None, None).actions == (Action.SKIP,)
    assert plan(None, Stored("deleted", "1729", "c1")).actions == (Action.SKIP,)
