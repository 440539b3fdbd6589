"""Pure rules of the poller and the webhook worker: a pass's window, the orders a
notification names."""

from __future__ import annotations

from order_ingest.poller import DAY, Pass, window
from order_ingest.webhooks import order_ids

NOW = 1_750_000_000


def _pass(**over: object) -> Pass:
    values: dict[str, object] = {
        "run_id": "r",
        "import_id": "i",
        "connection_id": "c",
        "shop_id": "s",
        "mode": "incremental",
        "statuses": [],
        "created_within_days": None,
        "updated_within_days": None,
        "watermark": None,
        "update_time_ge": None,
        "create_time_ge": None,
        "page_token": None,
        "max_update_time": None,
    }
    values.update(over)
    return Pass(**values)  # type: ignore[arg-type]


def test_an_incremental_pass_starts_the_overlap_before_the_watermark() -> None:
    assert window(_pass(watermark=NOW - 1000), NOW, 300) == (NOW - 1300, None)


def test_the_earliest_update_time_is_a_floor_and_creation_a_separate_bound() -> None:
    p = _pass(watermark=NOW - 10 * DAY, updated_within_days=3, created_within_days=7)
    assert window(p, NOW, 300) == (NOW - 3 * DAY, NOW - 7 * DAY)
    recent = _pass(watermark=NOW - 60, updated_within_days=3)
    assert window(recent, NOW, 300) == (NOW - 360, None)


def test_a_backfill_ignores_the_watermark() -> None:
    assert window(_pass(mode="backfill", watermark=NOW), NOW, 300) == (None, None)
    p = _pass(mode="backfill", watermark=NOW, updated_within_days=0)
    assert window(p, NOW, 300) == (NOW, None)


def test_notifications_name_their_orders() -> None:
    assert order_ids(1, {"order_id": "576653688135258178"}) == ["576653688135258178"]
    assert order_ids(3, {"order_id": "7"}) == ["7"]
    package = {"package_list": [{"package_id": "p", "order_id_list": ["1", "2"]}]}
    assert order_ids(4, package) == ["1", "2"]
    assert order_ids(5, {"product_id": "9"}) == []
    assert order_ids(1, {}) == []
