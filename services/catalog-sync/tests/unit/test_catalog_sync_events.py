"""Which event a product's run result announces (catalog_sync.sync_events.event_for)."""

from __future__ import annotations

from types import SimpleNamespace

from catalog_sync.state import Outcome
from catalog_sync.sync_events import event_for
from tts_common.events import make_event

LIVE = SimpleNamespace(
    status="live",
    tiktok_product_id="1729",
    skus={"p-0": {"sku_id": "11"}, "p-1": {"sku_id": "12"}},
)


def test_a_created_product_is_synced_with_its_tiktok_ids() -> None:
    kind, data = event_for("f", "p", "r", [Outcome("create", "ok")], LIVE) or ("", None)
    assert kind == "product.synced"
    assert (data.action, data.tiktok_product_id) == ("create", "1729")
    assert data.sku_ids == {"p-0": "11", "p-1": "12"} and data.product_ids == ["p-0", "p-1"]
    make_event(kind, "/t", None, data)  # a valid payload of its type


def test_the_most_significant_accepted_action_is_announced() -> None:
    both = [Outcome("price", "ok"), Outcome("inventory", "ok")]
    assert event_for("f", "p", "r", both, LIVE)[1].action == "price"  # type: ignore[index]
    adopted = [Outcome("adopt", "ok"), Outcome("edit", "ok")]
    assert event_for("f", "p", "r", adopted, LIVE)[1].action == "adopt"  # type: ignore[index]


def test_any_failure_is_a_sync_failure_with_tiktoks_answer() -> None:
    outcomes = [
        Outcome("price", "ok"),
        Outcome("inventory", "failed", code=12052251, message="bad stock", request_id="rq"),
    ]
    kind, data = event_for("f", "p", "r", outcomes, LIVE) or ("", None)
    assert kind == "product.sync-failed" and data.action == "inventory"
    assert [(e.code, e.message, e.request_id) for e in data.errors] == [
        (12052251, "bad stock", "rq")
    ]


def test_a_product_not_ready_names_the_action_it_needed_and_each_issue() -> None:
    issues = (
        {"attribute": "brand_id", "test": "required", "message": "missing"},
        {"attribute": "images", "test": "count", "message": "at least 1"},
    )
    new = event_for("f", "p", "r", [Outcome("not_ready", "not_ready", errors=issues)], None, ["p"])
    assert new is not None and new[0] == "product.sync-failed"
    assert new[1].action == "create" and new[1].product_ids == ["p"]
    assert [(e.code, e.message) for e in new[1].errors] == [
        ("not_ready", "brand_id: missing"),
        ("not_ready", "images: at least 1"),
    ]
    known = event_for("f", "p", "r", [Outcome("prepare", "failed", code=7)], LIVE)
    assert known is not None and known[1].action == "edit"


def test_a_delete_is_announced_and_quiet_outcomes_are_not() -> None:
    gone = SimpleNamespace(status="deleted", tiktok_product_id="1729", skus={})
    kind, data = event_for("f", "p", "r", [Outcome("delete", "ok")], gone) or ("", None)
    assert kind == "product.deleted" and data.tiktok_product_id == "1729"
    for quiet in ("skipped", "deferred", "planned"):
        assert event_for("f", "p", "r", [Outcome("create", quiet)], None) is None
    assert event_for("f", "p", "r", [Outcome("reconcile", "ok")], LIVE) is None
