"""Every product validation rule of docs/sandbox.md ("Validation"), over HTTP, with its code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tiktok_sandbox.catalog_seed import catalog
from tiktok_sandbox.testing import (
    US_WAREHOUSE,
    RunningSandbox,
    SignedClient,
    run_sandbox,
)
from tiktok_sandbox.testing import (
    sample_sofa as sofa_body,
)

Body = dict[str, Any]


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox(qps=0) as sandbox:
        yield sandbox


def _us_tree() -> Any:
    return catalog().trees["US"]


def _brand(pred: Callable[[dict[str, Any]], bool]) -> str:
    return next(b["id"] for b in catalog().brands if pred(b))


def _sku(body: Body, **over: Any) -> Body:
    body["skus"][0].update(over)
    return body


def _attr(body: Body, attr_id: str, values: list[dict[str, str]]) -> Body:
    body["product_attributes"] = [a for a in body["product_attributes"] if a["id"] != attr_id]
    body["product_attributes"].append({"id": attr_id, "values": values})
    return body


CASES: dict[str, tuple[Callable[[Body], Body], int]] = {
    "unknown category": (lambda b: {**b, "category_id": "1"}, 12052023),
    "not a leaf": (
        lambda b: {**b, "category_id": next(c.id for c in _us_tree().ordered if not c.is_leaf)},
        12052024,
    ),
    "UK v1 id in a US v2 listing": (lambda b: {**b, "category_id": "604468"}, 12052230),
    "US without v2": (lambda b: {**b, "category_version": "v1"}, 12052217),
    # v1 is TikTok's default ("Get Categories 202309"), so leaving the version out is v1 too.
    "US without category_version": (
        lambda b: {k: v for k, v in b.items() if k != "category_version"},
        12052217,
    ),
    "invite-only category": (
        lambda b: {**b, "category_id": next(c.id for c in _us_tree().leaves() if c.invite_only)},
        12052220,
    ),
    "unknown brand": (lambda b: {**b, "brand_id": "123"}, 12052026),
    "unavailable brand": (
        lambda b: {**b, "brand_id": _brand(lambda x: x["brand_status"] == "UNAVAILABLE")},
        12052026,
    ),
    "unauthorized brand": (
        lambda b: {
            **b,
            "brand_id": _brand(
                lambda x: (
                    x["authorized_status"] == "UNAUTHORIEZD" and x["brand_status"] == "AVAILABLE"
                )
            ),
        },
        12052201,
    ),
    "required attribute missing": (
        lambda b: {
            **b,
            "product_attributes": [a for a in b["product_attributes"] if a["id"] != "101610"],
        },
        12052104,
    ),
    "conditionally required attribute": (
        lambda b: _attr(b, "101610", [{"id": "1029401"}]),  # Foldable needs Folded Dimensions
        12052104,
    ),
    "unknown predefined value id": (lambda b: _attr(b, "101610", [{"id": "999"}]), 12052105),
    "attribute not in the category": (lambda b: _attr(b, "100101", [{"id": "1005000"}]), 12052105),
    "two values on a single-select": (
        lambda b: _attr(b, "101610", [{"id": "1029401"}, {"id": "1029402"}]),
        12052105,
    ),
    "empty title": (lambda b: {**b, "title": ""}, 12052051),
    "title over 255": (lambda b: {**b, "title": "x" * 256}, 12052051),
    "description over 10000": (
        lambda b: {**b, "description": "<p>" + "x" * 10_000 + "</p>"},
        12052013,
    ),
    "disallowed html tag": (lambda b: {**b, "description": "<div>hi</div>"}, 12052013),
    "missing description": (lambda b: {**b, "description": ""}, 12052015),
    "no main image": (lambda b: {**b, "main_images": []}, 12052028),
    "ten main images": (lambda b: {**b, "main_images": b["main_images"] * 10}, 12052029),
    "image never uploaded": (lambda b: {**b, "main_images": [{"uri": "tos-nope/1"}]}, 12052030),
    "no skus": (lambda b: {**b, "skus": []}, 12052049),
    "101 skus": (
        lambda b: {
            **b,
            "skus": [
                dict(
                    b["skus"][0],
                    seller_sku=f"M-{i}",
                    sales_attributes=[{"name": "Pattern", "value_name": f"P{i}"}],
                )
                for i in range(101)
            ],
        },
        12052050,
    ),
    "seller_sku over 50": (lambda b: _sku(b, seller_sku="S" * 51), 12052054),
    "seller_sku twice in the product": (
        lambda b: _sku(b, seller_sku=b["skus"][1]["seller_sku"]),
        12052056,
    ),
    "same sales attributes twice": (
        lambda b: _sku(b, sales_attributes=b["skus"][1]["sales_attributes"]),
        12019030,
    ),
    "wrong currency": (lambda b: _sku(b, price={"amount": "10", "currency": "GBP"}), 12052061),
    "price above the US cap": (
        lambda b: _sku(b, price={"amount": "7600.01", "currency": "USD"}),
        12052060,
    ),
    "price below 0.01": (lambda b: _sku(b, price={"amount": "0.001", "currency": "USD"}), 12052060),
    "price as a number": (lambda b: _sku(b, price={"amount": 10, "currency": "USD"}), 12052060),
    "stock above 999999": (
        lambda b: _sku(b, inventory=[{"warehouse_id": US_WAREHOUSE, "quantity": 1_000_000}]),
        12019024,
    ),
    "negative stock": (
        lambda b: _sku(b, inventory=[{"warehouse_id": US_WAREHOUSE, "quantity": -1}]),
        12019024,
    ),
    "unknown warehouse": (
        lambda b: _sku(b, inventory=[{"warehouse_id": "1", "quantity": 1}]),
        12052097,
    ),
    "unpaired units": (
        lambda b: {**b, "package_dimensions": {**b["package_dimensions"], "unit": "INCH"}},
        12052080,
    ),
    "missing package weight": (
        lambda b: {k: v for k, v in b.items() if k != "package_weight"},
        12052081,
    ),
    "bad GTIN": (lambda b: _sku(b, identifier_code={"code": "123", "type": "GTIN"}), 12052090),
    "too many variation levels": (
        lambda b: _sku(
            b,
            sales_attributes=[
                {"name": n, "value_name": "v"} for n in ("Color", "Size2", "Pattern", "Style")
            ],
        ),
        12019030,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_create_rejects(us: SignedClient, case: str) -> None:
    mutate, code = CASES[case]
    body = mutate(sofa_body(us, "V-" + case.replace(" ", "")[:20]))
    resp = us.call("POST", "/product/202309/products", json=body)
    assert resp["code"] == code, (case, resp)
    assert resp["data"] is None and resp["message"]


def test_valid_body_passes(us: SignedClient) -> None:
    assert us.call("POST", "/product/202309/products", json=sofa_body(us, "V-OK"))["code"] == 0


def test_uk_market_rules(sb: RunningSandbox) -> None:
    uk = sb.client("UK")
    image = uk.upload_image()
    uk_wh = "7068517275539720101"
    body: Body = {
        "title": "Oak bedside table",
        "description": "<p>Solid oak</p>",
        "category_id": "604468",  # Sofas, a real UK v1 leaf
        "main_images": [{"uri": image["uri"]}],
        "product_attributes": [
            {"id": "101610", "values": [{"name": "Non-Foldable"}]},
            {"id": "100198", "values": [{"name": "Wood"}]},
        ],
        "skus": [
            {
                "seller_sku": "UK-1",
                "price": {"amount": "5600", "currency": "GBP"},
                "inventory": [{"warehouse_id": uk_wh, "quantity": 0}],
            }
        ],
        "package_weight": {"value": "3", "unit": "KILOGRAM"},
    }
    assert uk.call("POST", "/product/202309/products", json=body)["code"] == 0
    pricey = {
        **body,
        "skus": [
            dict(body["skus"][0], seller_sku="UK-2", price={"amount": "5600.01", "currency": "GBP"})
        ],
    }
    assert uk.call("POST", "/product/202309/products", json=pricey)["code"] == 12052060
    pounds = {
        **body,
        "skus": [dict(body["skus"][0], seller_sku="UK-3")],
        "package_weight": {"value": "3", "unit": "POUND"},
    }
    assert uk.call("POST", "/product/202309/products", json=pounds)["code"] == 12052080
    us_wh = {
        **body,
        "skus": [
            dict(
                body["skus"][0],
                seller_sku="UK-4",
                inventory=[{"warehouse_id": US_WAREHOUSE, "quantity": 1}],
            )
        ],
    }
    assert uk.call("POST", "/product/202309/products", json=us_wh)["code"] == 12052097
