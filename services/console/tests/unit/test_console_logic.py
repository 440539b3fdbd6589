"""The pages' pure helpers: the feed file a form describes, 422 details beside their fields,
connection warnings, the readiness ring."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from console.backends import BackendRefused
from console.config import Settings
from console.routes_analysis import donut
from console.routes_connections import warnings_for
from console.routes_feeds import feed_file
from console.routes_lists import attribute_of_list, kind_of, row_id
from console.routes_orders import order_summary
from pydantic import ValidationError


def test_the_create_form_becomes_a_feed_file_with_a_category_list() -> None:
    doc = feed_file(
        {
            "name": "uk-apparel",
            "market": "UK",
            "connection_id": "c1",
            "active": True,
            "log_api_calls": False,
            "category_column": "Tags",
            "accept_above_score": 0.9,
        }
    )
    assert doc["feed"] == {
        "name": "uk-apparel",
        "market": "UK",
        "connection_id": "c1",
        "active": True,
        "log_api_calls": False,
        "log_api_headers": False,
        "feedback_enabled": False,
    }
    assert doc["source"] == {"id": "uk-apparel"}
    assert doc["lists"] == [
        {
            "name": "categories",
            "taxonomy": "tiktok_uk_categories",
            "attribute": "Tags",
            "accept_above_score": 0.9,
        }
    ]
    targets = [m["target"] for m in doc["dataflow"]["intermediate"]]
    assert targets == ["category_id", "category_path"]
    assert json.loads(json.dumps(doc)) == doc  # sent as JSON, which is YAML


def test_a_us_feed_maps_us_categories_and_no_column_means_no_list() -> None:
    us = feed_file({"name": "us", "market": "US", "category_column": "Type"})
    assert us["lists"][0]["taxonomy"] == "tiktok_us_categories"
    plain = feed_file({"name": "plain", "market": "UK", "category_column": ""})
    assert "lists" not in plain and "dataflow" not in plain


def test_422_details_land_beside_the_fields_they_name() -> None:
    refused = BackendRefused(
        "catalog-sync",
        422,
        {
            "error": "invalid_feed_file",
            "detail": "refused",
            "problems": [
                {"path": "feed.name", "line": 2, "problem": "String should match pattern"}
            ],
            "fields": [{"field": "body.market", "problem": "Input should be 'US' or 'UK'"}],
        },
    )
    assert refused.field_errors() == {
        "market": "Input should be 'US' or 'UK'",
        "name": "String should match pattern",
    }
    assert BackendRefused("x", 409, "not json").detail == "http_409"


def test_connections_warn_about_ending_authorizations() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    soon = (now + timedelta(days=3)).isoformat()
    later = (now + timedelta(days=300)).isoformat()
    assert warnings_for({"status": "authorized", "authorization_expires_at": later}, now) == []
    ending = warnings_for({"status": "authorized", "authorization_expires_at": soon}, now)
    assert ending and "2026-01-04" in ending[0]
    assert warnings_for({"status": "expiring"}, now)
    assert "paused" in warnings_for({"status": "revoked"}, now)[0]


def test_list_kinds_and_row_ids() -> None:
    assert kind_of("tiktok_uk_categories") == "categories"
    assert kind_of("tiktok_brands") == "brands"
    assert kind_of("tiktok_values") == "values"
    assert row_id("a b") != row_id("a  b")
    assert row_id("<x>").startswith("v-") and "<" not in row_id("<x>")


def test_a_values_list_offers_the_attribute_its_dataflow_maps_it_to() -> None:
    dataflow = {
        "export": [
            {"attribute": "product_id"},
            {
                "attribute": "product_attribute.Foldable Furniture#101610",
                "source": "Foldable",
                "rules": [
                    {"type": "taxonomy_mapping", "list": "foldable"},
                    {"type": "split_string", "splitter": "|", "from": 1, "items": 1},
                ],
            },
            {  # a sales attribute carries no id: every attribute's values are offered
                "attribute": "sku.sales_attribute.Size",
                "rules": [{"type": "taxonomy_mapping", "list": "sizes"}],
            },
        ]
    }
    assert attribute_of_list(dataflow, "foldable") == "101610"
    assert attribute_of_list(dataflow, "sizes") is None
    assert attribute_of_list(dataflow, "unused") is None
    assert attribute_of_list({"export": "not a list"}, "foldable") is None


def test_an_order_summary_leaves_out_the_buyers_personal_data() -> None:
    order = {
        "id": "576",
        "status": "AWAITING_SHIPMENT",
        "order": {
            "recipient_address": {"name": "Jane Buyer", "phone_number": "+44 7700 900000"},
            "buyer_email": "jane@example.com",
            "line_items": [{"id": "1", "product_name": "Mug", "seller_sku": "mug-1"}],
            "payment": {"total_amount": "12.00", "currency": "GBP"},
        },
    }
    summary = order_summary(order)
    text = json.dumps(summary)
    assert "Jane" not in text and "7700" not in text and "jane@" not in text
    assert summary["items"][0]["product_name"] == "Mug"
    assert (summary["total"], summary["currency"]) == ("12.00", "GBP")


def test_the_readiness_ring_draws_the_share() -> None:
    full, empty, half = donut(1.0), donut(0.0), donut(0.5)
    assert full["rest"] == 0 and empty["filled"] == 0
    assert half["filled"] == pytest.approx(half["rest"])


def test_prod_needs_a_session_secret_and_urls_are_http() -> None:
    with pytest.raises(ValidationError, match="session_secret"):
        Settings(environment="prod", services_api_key="k" * 40)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(catalog_sync_url="ftp://x")
    assert Settings(catalog_sync_url="http://x:1/").catalog_sync_url == "http://x:1"
    assert Settings(
        environment="prod", session_secret="s" * 40, services_api_key="k" * 40
    ).secure_cookie  # type: ignore[arg-type]
    assert not Settings().secure_cookie
