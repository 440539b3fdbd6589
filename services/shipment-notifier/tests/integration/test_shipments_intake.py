"""Intake and "only new shipment data": one (order, tracking number) is sent once however
often it arrives (Kafka and HTTP); a changed tracking number is one update-shipping-info call;
invalid events are dead-lettered naming the field; HTTP answers 422 naming it; bulk uploads
report per line; an export's field mapping reads the OMS's own payload."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from tts_common.events import SHIPMENT_CREATED, dlq_topic, make_event

from conftest import UPDATE, StackFactory

pytestmark = pytest.mark.integration


async def test_five_events_and_two_posts_are_one_ship_call_and_a_new_tracking_one_update(
    tiktok_stack: StackFactory,
) -> None:
    async with tiktok_stack() as stack:
        connection = await stack.connect("US")
        await stack.export(connection)
        order = stack.place_order()
        stack.advance(3601)
        oid = str(order["id"])
        await stack.announce(connection, stack.order(oid))

        event = stack.shipment_event(oid, "TRK-DUP-1")
        # Five deliveries: the same event three times (a redelivery: the inbox absorbs it)
        # and twice as a new event with the same content (an OMS sending it again).
        copies = [event, event, event] + [
            event.model_copy(update={"id": str(uuid.uuid4())}) for _ in range(2)
        ]
        for copy in copies:
            await stack.publish(SHIPMENT_CREATED, oid, copy)
        body = {
            "order_id": oid,
            "tracking_number": "TRK-DUP-1",
            "carrier": "USPS",
            "shipped_at": datetime.now(UTC).isoformat(),
        }
        posted = [await stack.http.post("/v1/shipments", json=body) for _ in range(2)]
        assert [p.status_code for p in posted] == [202, 202]
        assert posted[0].json()["id"] == posted[1].json()["id"]

        sent = await stack.until_status(oid, "notified")
        assert str(sent["id"]) == posted[0].json()["id"]
        # Everything has arrived (the HTTP posts came after the Kafka events were stored or
        # not; either way one row): still one ship call once the topic is drained.
        rows = await stack.shipment(order_id=oid)
        assert len(rows) == 1 and stack.ship_calls() == 1
        again = await stack.http.post("/v1/shipments", json=body)
        assert again.json() == {"id": str(sent["id"]), "duplicate": True}

        await stack.ship(oid, "TRK-DUP-2")  # the OMS fixed the tracking number
        rows = await _until(
            stack, oid, lambda rs: len(rs) == 2 and all(r["status"] == "notified" for r in rs)
        )
        assert {r["tracking_number"]: r["action"] for r in rows} == {
            "TRK-DUP-1": "ship",
            "TRK-DUP-2": "update",
        }
        assert stack.ship_calls() == 1 and stack.calls()[UPDATE] == 1
        assert stack.order(oid)["tracking_number"] == "TRK-DUP-2"


async def _until(stack, oid, check):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        rows = await stack.shipment(order_id=oid)
        if rows and check(rows):
            return rows
        assert loop.time() < deadline, rows
        await asyncio.sleep(0.1)


async def test_invalid_events_are_dead_lettered_naming_the_field(
    tiktok_stack: StackFactory, kafka_bootstrap: str
) -> None:
    async with tiktok_stack() as stack:
        key = f"bad-{uuid.uuid4().hex[:8]}"
        good = make_event(
            "shipment.created",
            "/oms",
            key,
            {
                "order_id": key,
                "tracking_number": "T1",
                "carrier": "USPS",
                "shipped_at": datetime.now(UTC).isoformat(),
            },
        )
        no_tracking = good.model_copy(
            update={"id": str(uuid.uuid4()), "data": {**good.data, "tracking_number": ""}}
        )
        no_carrier = good.model_copy(
            update={
                "id": str(uuid.uuid4()),
                "data": {k: v for k, v in good.data.items() if k != "carrier"},
            }
        )
        topic = dlq_topic(SHIPMENT_CREATED)
        watcher = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False
        )
        await watcher.start()
        try:
            parts = [TopicPartition(topic, p) for p in await stack.producer.partitions_for(topic)]
            watcher.assign(parts)
            for tp, offset in (await watcher.end_offsets(parts)).items():
                watcher.seek(tp, offset)  # only what this test dead-letters
            for event in (no_tracking, no_carrier):
                await stack.publish(SHIPMENT_CREATED, key, event)
            reasons: dict[str, str] = {}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while len(reasons) < 2 and loop.time() < deadline:
                batch = await watcher.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        if record.key == key.encode():
                            headers = {k: v.decode() for k, v in record.headers}
                            reasons[orjson.loads(record.value)["id"]] = headers["error.message"]
        finally:
            await watcher.stop()
        assert "tracking_number" in reasons[no_tracking.id], reasons
        assert "carrier" in reasons[no_carrier.id], reasons
        assert await stack.shipment(order_id=key) == []


async def test_http_intake_validation_bulk_upload_and_field_mapping(
    tiktok_stack: StackFactory,
) -> None:
    async with tiktok_stack() as stack:
        connection = await stack.connect("US")
        export = await stack.export(
            connection,
            field_mapping={
                "order_id": "order.tiktok_id",
                "tracking_number": "parcel.code",
                "carrier": "parcel.carrier",
                "shipped_at": "shipped",
                "line_item_ids": "lines[].tiktok_line",
            },
        )
        orders = [stack.place_order() for _ in range(3)]
        stack.advance(3601)
        ids = [str(o["id"]) for o in orders]
        for o in stack.orders(ids):
            await stack.announce(connection, o)
        now = datetime.now(UTC).isoformat()

        r = await stack.http.post(
            "/v1/shipments", json={"order_id": ids[0], "shipped_at": now, "carrier": "USPS"}
        )
        assert r.status_code == 422
        assert any(f["field"] == "body.tracking_number" for f in r.json()["fields"]), r.json()

        detail = stack.order(ids[0])
        oms = {
            "order": {"tiktok_id": ids[0]},
            "parcel": {"code": "TRK-MAP-1", "carrier": "US Postal Service"},
            "shipped": now,
            "lines": [{"tiktok_line": li["id"]} for li in detail["line_items"]],
        }
        r = await stack.http.post("/v1/shipments", params={"export_id": export["id"]}, json=oms)
        assert r.status_code == 202, r.text

        ndjson = b"\n".join(
            [
                orjson.dumps(
                    {
                        "order": {"tiktok_id": ids[1]},
                        "parcel": {"code": "TRK-MAP-2", "carrier": "USPS"},
                        "shipped": now,
                    }
                ),
                b"{not json",
                orjson.dumps(
                    {"order": {"tiktok_id": ids[1]}, "parcel": {"carrier": "USPS"}, "shipped": now}
                ),
            ]
        )
        r = await stack.http.post(
            "/v1/shipments:upload",
            params={"export_id": export["id"]},
            content=ndjson,
            headers={"content-type": "application/x-ndjson"},
        )
        assert r.status_code == 202, r.text
        up = r.json()
        assert up["accepted"] == 1 and [(e["line"], e["field"]) for e in up["errors"]] == [
            (2, "<line>"),
            (3, "tracking_number"),
        ]

        csv_body = (
            "order_id,tracking_number,carrier,shipped_at\n"
            f"{ids[2]},TRK-CSV-1,USPS,{now}\n"
            f"{ids[2]},,USPS,{now}\n"
        ).encode()
        r = await stack.http.post(
            "/v1/shipments:upload", content=csv_body, headers={"content-type": "text/csv"}
        )
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 1 and r.json()["errors"][0]["line"] == 3

        for oid in ids:
            await stack.until_status(oid, "notified")
        for order in stack.orders(ids):
            assert order["status"] == "AWAITING_COLLECTION"
        assert 1 <= stack.ship_calls() <= 3  # ready together, they may share a batch call

        page = (
            await stack.http.get("/v1/shipments", params={"status": "notified", "limit": 2})
        ).json()
        assert len(page["shipments"]) == 2 and page["next_page_token"]
        rest = (
            await stack.http.get(
                "/v1/shipments",
                params={"status": "notified", "limit": 2, "page_token": page["next_page_token"]},
            )
        ).json()
        assert len(rest["shipments"]) == 1 and rest["next_page_token"] is None
        by_order = (await stack.http.get("/v1/shipments", params={"order_id": ids[0]})).json()
        assert [s["tracking_number"] for s in by_order["shipments"]] == ["TRK-MAP-1"]

        fb = await stack.http.get(
            f"/v1/shipment-exports/{export['id']}/feedback", params={"format": "csv"}
        )
        assert fb.status_code == 200 and fb.text.splitlines()[0].startswith("shipment_id,order_id")
        assert sum(",notified," in line for line in fb.text.splitlines()) == 3
        jsonl = await stack.http.get(f"/v1/shipment-exports/{export['id']}/feedback")
        assert {orjson.loads(x)["outcome"] for x in jsonl.text.splitlines()} == {"notified"}
