"""Mapping lists: Productsup's two-column screen (source value | TikTok term), done better.

Left, the list's source values with the number of products holding each (catalog-sync counts
parents: one parent is one TikTok product), unmapped first, then most products first (or by
value), optionally only those at least N products hold; right, a type-ahead picker over the
TikTok taxonomy the list maps to — category paths of the feed's market, the shop's brands with
their authorization, the predefined values (with ids) of the categories' attributes — and
catalog-sync's suggestions with their scores, to accept one by one or all above a threshold.
Bulk work goes through the CSV download and upload.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from console.backends import BackendDown, BackendRefused
from console.web import FormDep, Ident, SessionDep, backends, is_htmx, render, text

router = APIRouter()
PICK_LIMIT = 12


def row_id(value: str) -> str:
    return "v-" + hashlib.sha1(value.encode()).hexdigest()[:12]


_PRODUCT_ATTRIBUTE = re.compile(r"^product_attribute\..+#([0-9]{1,20})$")


def attribute_of_list(dataflow: Mapping[str, Any], name: str) -> str | None:
    """The TikTok attribute id a values list feeds: the `product_attribute.<Name>#<id>` whose
    rules map through list `name` (docs/feeds.md, "Dataflow and rule boxes"); None when no
    such attribute uses it (then the picker offers every attribute's values)."""
    for stage in ("intermediate", "export"):
        entries = dataflow.get(stage)
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict):
                continue
            rules = entry.get("rules")
            uses = any(
                isinstance(r, dict)
                and r.get("type") == "taxonomy_mapping"
                and r.get("list") == name
                for r in (rules if isinstance(rules, list) else ())
            )
            found = _PRODUCT_ATTRIBUTE.match(str(entry.get("attribute", "")))
            if uses and found:
                return found.group(1)
    return None


def kind_of(taxonomy: str) -> str:
    if taxonomy.endswith("_categories"):
        return "categories"
    if taxonomy == "tiktok_brands":
        return "brands"
    return "values"


async def _list(request: Request, feed_id: str, name: str) -> dict[str, Any]:
    lists = await backends(request).catalog.get(f"/v1/feeds/{feed_id}/lists")
    for lst in lists:
        if lst["name"] == name:
            return dict(lst)
    from fastapi import HTTPException

    raise HTTPException(404, f"feed {feed_id} has no list {name}")


async def _suggestions(
    request: Request, feed_id: str, name: str, kind: str
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """value -> suggestions; or why there are none (no connection yet, values list, ...)."""
    if kind == "values":
        return (
            {},
            "TikTok's predefined values are picked by name, with the search beside each value.",
        )
    try:
        got = await backends(request).catalog.get(
            f"/v1/feeds/{feed_id}/lists/{name}/suggestions", params={"limit": 3}
        )
    except BackendRefused as exc:
        return {}, exc.detail
    except BackendDown as exc:
        return {}, f"{exc.service}: {exc.reason}"
    return {v["value"]: v["suggestions"] for v in got["values"]}, None


@router.get("/feeds/{feed_id}/lists/{name}", include_in_schema=False)
async def list_page(
    request: Request,
    feed_id: Ident,
    name: Ident,
    session: SessionDep,
    unmapped: bool = False,
    sort: Literal["products", "value"] = "products",
    min_products: str = Query("", max_length=40),
    accepted: int | None = None,
    updated: int | None = None,
) -> Response:
    raw = min_products.strip()
    least = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
    return await _list_view(
        request,
        feed_id,
        name,
        unmapped=unmapped,
        sort=sort,
        min_products=least or 0,
        accepted=accepted,
        updated=updated,
        errors=None
        if raw == "" or least is not None
        else {"min_products": "A whole number of products, 0 or more."},
        typed={"min_products": raw},
    )


async def _list_view(
    request: Request,
    feed_id: str,
    name: str,
    *,
    unmapped: bool = False,
    sort: str = "products",
    min_products: int = 0,
    accepted: int | None = None,
    updated: int | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    catalog = backends(request).catalog
    feed = await catalog.get(f"/v1/feeds/{feed_id}")
    lst = await _list(request, feed_id, name)
    rows = await catalog.get(
        f"/v1/feeds/{feed_id}/lists/{name}",
        params={
            "unmapped": "true" if unmapped else None,
            "sort": sort,
            "min_products": min_products or None,
        },
    )
    # Unmapped first; within each part catalog-sync's order (most products first, or by value).
    rows.sort(key=lambda r: r["replacement"] is not None)
    kind = kind_of(lst["taxonomy"])
    suggestions, why_none = await _suggestions(request, feed_id, name, kind)
    return render(
        request,
        "list.html",
        {
            "feed": feed,
            "list": lst,
            "kind": kind,
            "rows": [
                {
                    **r,
                    "products": r.get("products"),
                    "id": row_id(r["source_value"]),
                    "suggestions": []
                    if r["replacement"]
                    else suggestions.get(r["source_value"], []),
                }
                for r in rows
            ],
            "why_no_suggestions": why_none,
            "unmapped_only": unmapped,
            "sort": sort,
            "min_products": min_products,
            "accepted": accepted,
            "updated": updated,
            "errors": errors or {},
            "typed": typed or {},
        },
        status_code=422 if errors else 200,
    )


@router.get("/feeds/{feed_id}/lists/{name}/pick", include_in_schema=False)
async def pick(
    request: Request,
    feed_id: Ident,
    name: Ident,
    session: SessionDep,
    value: str = "",
    products: str = Query("", max_length=12),
    q: str = Query("", max_length=200),
) -> Response:
    """The picker's options for `q` (htmx fragment): every word must occur in the path/name
    (for values: in the attribute's or the value's name)."""
    lst = await _list(request, feed_id, name)
    kind = kind_of(lst["taxonomy"])
    words = [w.casefold() for w in q.split() if w]
    options: list[dict[str, Any]] = []
    problem = None
    if words and kind == "values":
        options, problem = await _value_options(request, feed_id, name, q)
    if words and kind in ("categories", "brands"):
        try:
            got = await backends(request).catalog.get(
                f"/v1/feeds/{feed_id}/taxonomies/{kind}", params={"q": words[0], "limit": 1000}
            )
        except BackendRefused as exc:
            got, problem = {"items": []}, exc.detail
        for item in got["items"]:
            label = item.get("path") or item.get("name") or ""
            if all(w in label.casefold() or w == item.get("id") for w in words):
                options.append(
                    {
                        "term": item["term"],
                        "label": label,
                        "id": item["id"],
                        "note": _note(kind, item),
                    }
                )
            if len(options) >= PICK_LIMIT:
                break
    return render(
        request,
        "pick.html",
        {
            "feed_id": feed_id,
            "name": name,
            "value": value,
            "products": products if products.isdigit() else "",
            "options": options,
            "q": q,
            "problem": problem,
            "row": row_id(value),
        },
    )


async def _value_options(
    request: Request, feed_id: str, name: str, q: str
) -> tuple[list[dict[str, Any]], str | None]:
    """TikTok's predefined values for a values list: of the attribute the feed's dataflow maps
    through this list, else of every attribute of the categories catalog-sync has loaded."""
    catalog = backends(request).catalog
    feed = await catalog.get(f"/v1/feeds/{feed_id}")
    attribute_id = attribute_of_list(feed.get("dataflow") or {}, name)
    try:
        got = await catalog.get(
            f"/v1/feeds/{feed_id}/taxonomies/values",
            params={"q": q, "attribute_id": attribute_id, "limit": PICK_LIMIT},
        )
    except BackendRefused as exc:
        return [], exc.detail
    if not got["categories"]:
        return [], (
            "No category's attributes are loaded yet: map the category list first, or fetch "
            "categories and attributes on the readiness page."
        )
    options = [
        {
            "term": item["term"],
            "label": f"{item['attribute']}: {item['name']}",
            "id": item["id"],
            "note": f"{item['categories']} categor{'y' if item['categories'] == 1 else 'ies'}",
        }
        for item in got["items"]
    ]
    return options, None


def _note(kind: str, item: dict[str, Any]) -> str:
    if kind == "categories":
        return "needs TikTok's invitation" if item.get("invite_only") else ""
    if not item.get("available", True):
        return "unavailable"
    return "authorized" if item.get("authorized") else "not authorized for this shop"


@router.post("/feeds/{feed_id}/lists/{name}/map", include_in_schema=False)
async def map_value(request: Request, feed_id: Ident, name: Ident, form: FormDep) -> Response:
    value, term = text(form, "value"), text(form, "term")
    error = None
    try:
        await backends(request).catalog.call(
            "PUT", f"/v1/feeds/{feed_id}/lists/{name}/mappings", json={value: term or None}
        )
    except BackendRefused as exc:
        error = exc.detail
    lst = await _list(request, feed_id, name)
    if error is None and term and kind_of(lst["taxonomy"]) == "categories":
        await _cache_attributes(request, feed_id, term)
    if not is_htmx(request):
        return RedirectResponse(f"/feeds/{feed_id}/lists/{name}", status_code=303)
    current = term if error is None else None
    if error is not None:
        rows = await backends(request).catalog.get(f"/v1/feeds/{feed_id}/lists/{name}")
        current = next((r["replacement"] for r in rows if r["source_value"] == value), None)
    row: dict[str, Any] = {
        "source_value": value,
        "replacement": current or None,
        "products": _products(form),
        "id": row_id(value),
        "suggestions": [],
    }
    return render(
        request,
        "list_row.html",
        {
            "feed": {"id": feed_id},
            "list": lst,
            "kind": kind_of(lst["taxonomy"]),
            "row": row,
            "error": error,
        },
    )


def _products(form: Any) -> int | None:
    """The row's product count as the page showed it (sent back with the form), to redraw
    the row without reading the whole list again; None when absent."""
    raw = text(form, "products")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None


async def _cache_attributes(request: Request, feed_id: str, term: str) -> None:
    """Have catalog-sync fetch the chosen category's attributes now: readiness reads category
    schemas from its taxonomy cache only (docs/feeds.md, "Readiness")."""
    category_id = term.split("|", 1)[0]
    if not category_id.isdigit():
        return
    try:
        await backends(request).catalog.get(
            f"/v1/feeds/{feed_id}/taxonomies/categories/{category_id}/attributes"
        )
    except (BackendRefused, BackendDown):
        pass  # readiness then names the category as not loaded; "Fetch from TikTok" retries


@router.post("/feeds/{feed_id}/lists/{name}/accept", include_in_schema=False)
async def accept(request: Request, feed_id: Ident, name: Ident, form: FormDep) -> Response:
    raw = text(form, "min_score")
    try:
        score = float(raw)
        if not 0 <= score <= 1:
            raise ValueError
    except ValueError:
        return await _list_error(
            request, feed_id, name, {"min_score": "A score between 0 and 1, e.g. 0.5."}
        )
    got = await backends(request).catalog.post(
        f"/v1/feeds/{feed_id}/lists/{name}/suggestions:accept", params={"min_score": score}
    )
    for term in set(got.get("mappings", {}).values()):
        await _cache_attributes(request, feed_id, term)
    return RedirectResponse(
        f"/feeds/{feed_id}/lists/{name}?accepted={got['accepted']}", status_code=303
    )


async def _list_error(
    request: Request, feed_id: str, name: str, errors: dict[str, str]
) -> Response:
    return await _list_view(request, feed_id, name, errors=errors)


@router.get("/feeds/{feed_id}/lists/{name}/download", include_in_schema=False)
async def download(
    request: Request, feed_id: Ident, name: Ident, session: SessionDep, unmapped: bool = False
) -> Response:
    response = await backends(request).catalog.send(
        "GET",
        f"/v1/feeds/{feed_id}/lists/{name}",
        params={"format": "csv", "unmapped": "true" if unmapped else None},
    )
    if response.status_code >= 400:
        raise BackendRefused("catalog-sync", response.status_code, _json(response))
    return Response(
        response.content,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


@router.post("/upload/{feed_id}/lists/{name}", include_in_schema=False)
async def upload_csv(request: Request, feed_id: Ident, name: Ident, form: FormDep) -> Response:
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return await _list_error(request, feed_id, name, {"file": "Choose the CSV file to upload."})
    body = await file.read()
    try:
        got = await backends(request).catalog.call(
            "PUT",
            f"/v1/feeds/{feed_id}/lists/{name}/mappings",
            content=body,
            headers={"content-type": "text/csv"},
        )
    except BackendRefused as exc:
        return await _list_error(request, feed_id, name, {"file": exc.detail})
    return RedirectResponse(
        f"/feeds/{feed_id}/lists/{name}?updated={got['updated']}", status_code=303
    )
