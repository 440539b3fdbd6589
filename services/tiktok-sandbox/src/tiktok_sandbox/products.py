"""The product store: products per shop, their SKUs, uploaded images and the audit.

Every mutation runs under `state.lock`. Rendering to API shapes is in product_views.py,
validation in product_validation.py, HTTP in routes_products.py.

Two kinds of audit ("Edit Product 202309", "Get Product 202309"):
- a product that is not live (new, FAILED, deactivated...) is audited as a whole: it is
  PENDING until its audit ends, then ACTIVATE or FAILED;
- a live (ACTIVATE) product that is edited keeps selling its approved content: the edit is
  kept beside it as `product["revision"]` (`{spec, skus}`), the status stays ACTIVATE and
  only the audit status shows the review (AUDITING). Approval replaces the live content
  with the revision; rejection drops the revision and the live content sells on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import product_codes as C
from .errors import ApiError
from .product_validation import Problems, check_inventory, check_price, validate_product
from .product_views import as_input, latest, product_detail
from .snowflake import new_id

# Batch actions: the statuses each one accepts, and the status it moves to.
BATCH_RULES: dict[str, tuple[frozenset[str], str]] = {
    "activate": (frozenset({"SELLER_DEACTIVATED", "DRAFT", "FAILED"}), "PENDING"),
    "deactivate": (frozenset({"ACTIVATE", "PENDING", "FAILED"}), "SELLER_DEACTIVATED"),
    "delete": (
        frozenset({"DRAFT", "PENDING", "FAILED", "ACTIVATE", "SELLER_DEACTIVATED"}),
        "DELETED",
    ),
    "recover": (frozenset({"DELETED"}), "SELLER_DEACTIVATED"),
}
IMAGE_MEMORY_CAP = 256 * 1024 * 1024  # keep image bytes for serving up to this total
# `audit_failed_reasons` of a rejected audit: the official sample of "Get Product 202309".
AUDIT_FAILED_REASONS = (
    {
        "position": "product",
        "reasons": ["violate listing rules"],
        "suggestions": [
            "The product violates TikTok Shopping listing rules, please check and resubmit."
        ],
        "listing_platform": "TIKTOK_SHOP",
    },
)


class ProductStore:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.products: dict[str, dict[str, Any]] = {}
        self.by_shop: dict[str, dict[str, dict[str, Any]]] = {}
        self.sku_owner: dict[tuple[str, str], str] = {}  # (shop, seller_sku) -> product id
        self.skus: dict[str, tuple[str, dict[str, Any]]] = {}  # sku id -> (product id, sku)
        self.images: dict[str, dict[str, Any]] = {}
        self._image_bytes = 0
        # Ids with an audit running (the product's or its revision's): ticks scan only these.
        self._pending: set[str] = set()

    # -- images ----------------------------------------------------------------------
    def add_image(self, record: dict[str, Any], content: bytes) -> None:
        with self.state.lock:
            if self._image_bytes + len(content) <= IMAGE_MEMORY_CAP:
                record["content"] = content
                self._image_bytes += len(content)
            self.images[record["uri"]] = record

    def image_known(self, uri: str) -> bool:
        return uri in self.images

    # -- lookups -------------------------------------------------------------------------
    def require(self, shop_id: str, product_id: str) -> dict[str, Any]:
        product = self.products.get(str(product_id))
        if product is None:
            raise ApiError(C.PRODUCT_NOT_FOUND, C.PRODUCT_NOT_FOUND_MSG)
        if product["shop_id"] != shop_id:
            raise ApiError(C.PRODUCT_NOT_IN_SHOP, "The product does not belong to this shop.")
        return product

    def _owner_lookup(self, shop_id: str) -> Callable[[str], str | None]:
        return lambda seller_sku: self.sku_owner.get((shop_id, seller_sku))

    # -- create / edit ---------------------------------------------------------------------
    def _brand_lookup(self, shop: dict[str, Any]) -> Callable[[str], dict[str, Any] | None]:
        return lambda brand_id: self.state.brands.find(shop["seller_id"], brand_id)

    def check(self, shop: dict[str, Any], body: dict[str, Any]) -> list[tuple[int, str]]:
        _, problems = validate_product(
            shop,
            body,
            self.image_known,
            self._owner_lookup(shop["id"]),
            brand_lookup=self._brand_lookup(shop),
        )
        return problems

    def _validated(
        self, shop: dict[str, Any], body: dict[str, Any], product_id: str | None
    ) -> dict[str, Any]:
        spec, problems = validate_product(
            shop,
            body,
            self.image_known,
            self._owner_lookup(shop["id"]),
            product_id,
            brand_lookup=self._brand_lookup(shop),
        )
        if problems:
            code, message = problems[0]
            if code == C.SELLER_SKU_DUPLICATE:
                self.state.stats.duplicate_sku(shop["id"])
            raise ApiError(code, message)
        return spec

    def create(self, shop: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            spec = self._validated(shop, body, None)
            # Only creates count against the new-shop daily cap (12019068), and only valid ones.
            self.state.listing_limits.take(shop["id"], self.state.clock.now())
            now = self.state.clock.now_int()
            product = {
                "id": new_id(),
                "shop_id": shop["id"],
                "create_time": now,
                "status": "DRAFT",
                "audit_status": "NONE",
            }
            self._apply(product, spec, now)
            self.products[product["id"]] = product
            self.by_shop.setdefault(shop["id"], {})[product["id"]] = product
            return product

    def edit(
        self, shop: dict[str, Any], product_id: str, body: dict[str, Any], partial: bool
    ) -> dict[str, Any]:
        with self.state.lock:
            product = self.require(shop["id"], product_id)
            if product["status"] in ("DELETED", "FREEZE", "PLATFORM_DEACTIVATED"):
                raise ApiError(
                    C.PRODUCT_STATUS_INVALID, f"A {product['status']} product cannot be edited."
                )
            if partial:
                # Each top-level property sent replaces that whole property (of the newest
                # version: an edit under review is the base of the next one).
                body = {**as_input(product), **body}
            own = {s["id"] for s in product["skus"]} | {s["id"] for s in latest(product)["skus"]}
            sent = body.get("skus")
            # Not a list: validation below reports the missing SKUs (no crash here).
            for sku in sent if isinstance(sent, list) else []:
                if isinstance(sku, dict) and sku.get("id") and str(sku["id"]) not in own:
                    raise ApiError(
                        C.SKU_NOT_FOUND, f"SKU [{sku['id']}] does not belong to the product."
                    )
            spec = self._validated(shop, body, product["id"])
            now = self.state.clock.now_int()
            if product["status"] == "ACTIVATE":
                self._submit_revision(product, spec, now)
            else:
                self._apply(product, spec, now)
            return product

    def _sku_ids(self, product: dict[str, Any], skus: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """SKUs with ids: as sent, else the id the seller SKU already had, else a new one."""
        known = {s["seller_sku"]: s["id"] for s in product.get("skus", [])}
        if product.get("revision"):
            known.update({s["seller_sku"]: s["id"] for s in product["revision"]["skus"]})
        out = []
        for sku in skus:
            sku = dict(sku)
            sku["id"] = sku["id"] or known.get(sku["seller_sku"]) or new_id()
            out.append(sku)
        return out

    def _submit_revision(self, product: dict[str, Any], spec: dict[str, Any], now: int) -> None:
        """An edit of a live product: audited beside the live content, which keeps selling.

        No status change and no webhook now; the audit's end is announced
        (PRODUCT_AUDIT_STATUS_CHANGE), as for a create.
        """
        self._unindex(product)
        skus = self._sku_ids(product, spec.pop("skus"))
        product["revision"] = {"spec": spec, "skus": skus}
        product["update_time"] = now
        product["audit_status"] = "AUDITING"
        product["audit_due"] = now + self.state.settings.audit_delay_seconds
        self._pending.add(product["id"])
        self._index(product)

    def _fold_revision(self, product: dict[str, Any]) -> None:
        """Make the version under review the product's content (a whole-product audit of the
        newest content follows, so nothing the seller sent is lost)."""
        revision = product.pop("revision", None)
        if revision is not None:
            product["spec"], product["skus"] = revision["spec"], revision["skus"]

    def _apply(self, product: dict[str, Any], spec: dict[str, Any], now: int) -> None:
        """Store a validated spec: assign SKU ids, refresh indexes, start the audit."""
        existing = "skus" in product  # a create passes a product with no spec yet
        before = product["status"]
        self._unindex(product)
        product["skus"] = self._sku_ids(product, spec.pop("skus"))
        product.pop("revision", None)  # this edit was built on it and replaces it
        product["spec"] = spec
        product["update_time"] = now
        if spec["save_mode"] == "AS_DRAFT" and product["status"] == "DRAFT":
            product["status"] = "DRAFT"
        else:
            self._start_audit(product, now)
            # An edit sends a product that is not live (FAILED, deactivated...) back to a
            # whole-product audit: a status change like any other (type 5 webhook).
            if existing and before != "PENDING":
                self._set_status(product, "PENDING", now)
        self._index(product)

    def _start_audit(self, product: dict[str, Any], now: float) -> None:
        product["status"] = "PENDING"
        product["audit_status"] = "AUDITING"
        product["audit_due"] = now + self.state.settings.audit_delay_seconds
        self._pending.add(product["id"])

    def _index(self, product: dict[str, Any]) -> None:
        """SKU ids map to the live SKUs (what orders buy); seller SKUs of both the live
        version and the one under review belong to the product (no one else may take them)."""
        if product["status"] == "DELETED":
            return
        for sku in product["skus"]:
            self.skus[sku["id"]] = (product["id"], sku)
        for sku in _all_skus(product):
            if sku["seller_sku"]:
                self.sku_owner[(product["shop_id"], sku["seller_sku"])] = product["id"]

    def _unindex(self, product: dict[str, Any]) -> None:
        for sku in _all_skus(product):
            if self.skus.get(sku["id"], ("",))[0] == product["id"]:
                del self.skus[sku["id"]]
            key = (product["shop_id"], sku["seller_sku"])
            if self.sku_owner.get(key) == product["id"]:
                del self.sku_owner[key]

    # -- status changes ---------------------------------------------------------------------
    def _set_status(self, product: dict[str, Any], status: str, now: int) -> None:
        product["status"] = status
        product["update_time"] = now
        self.state.webhooks.emit(
            product["shop_id"],
            "PRODUCT_STATUS_CHANGE",
            {
                "product_id": product["id"],
                "status": status,
                "suspended_reason": "",
                "update_time": now,
            },
        )

    def batch(self, shop_id: str, action: str, product_ids: list[str]) -> list[dict[str, Any]]:
        """Apply a batch action; returns the per-item errors (the call itself succeeds)."""
        allowed, target = BATCH_RULES[action]
        errors = []
        with self.state.lock:
            now = self.state.clock.now_int()
            for pid in product_ids:
                try:
                    product = self.require(shop_id, pid)
                    if product["status"] not in allowed:
                        raise ApiError(
                            C.PRODUCT_STATUS_INVALID,
                            f"Cannot {action} a product in status {product['status']}.",
                        )
                    if action == "recover":
                        self._check_recoverable(product)
                    if action == "activate" and product["status"] == "DRAFT":
                        self._validated(
                            self.state.shops[shop_id],
                            {**as_input(product), "save_mode": "LISTING"},
                            product["id"],
                        )
                except ApiError as err:
                    errors.append(
                        {
                            "code": err.code,
                            "message": err.message,
                            "detail": {"product_id": str(pid)},
                        }
                    )
                    continue
                if target == "PENDING":
                    self._unindex(product)
                    self._fold_revision(product)
                    self._index(product)
                    self._start_audit(product, now)
                    self._set_status(product, "PENDING", now)
                else:
                    self._unindex(product)
                    self._set_status(product, target, now)
                    self._index(product)
        return errors

    def _check_recoverable(self, product: dict[str, Any]) -> None:
        for sku in _all_skus(product):
            owner = self.sku_owner.get((product["shop_id"], sku["seller_sku"]))
            if sku["seller_sku"] and owner not in (None, product["id"]):
                raise ApiError(
                    C.SELLER_SKU_DUPLICATE, f"The seller SKU [{sku['seller_sku']}] already exists."
                )

    def advance(self, now: float) -> None:
        """Finish due audits; one fails when its title has the fail keyword.

        A whole-product audit ends in ACTIVATE or FAILED (PRODUCT_AUDIT_STATUS_CHANGE, then
        PRODUCT_STATUS_CHANGE). A revision's audit changes no status (only the first webhook):
        approved, it replaces the live content; rejected, the live content stays.
        """
        with self.state.lock:
            keyword = self.state.settings.audit_fail_keyword
            for pid in list(self._pending):
                product = self.products[pid]
                revision = product.get("revision")
                if revision is None and product["status"] != "PENDING":
                    self._pending.discard(pid)  # deactivated or deleted while under audit
                    continue
                if product["audit_due"] > now:
                    continue
                self._pending.discard(pid)
                audited = revision if revision is not None else product
                failed = bool(keyword) and keyword in audited["spec"]["title"]
                product["audit_status"] = "REJECTED" if failed else "APPROVED"
                if failed:
                    product["audit_failed_reasons"] = [dict(r) for r in AUDIT_FAILED_REASONS]
                else:
                    product.pop("audit_failed_reasons", None)
                stamp = int(now)
                self.state.webhooks.emit(
                    product["shop_id"],
                    "PRODUCT_AUDIT_STATUS_CHANGE",
                    {
                        "product_id": product["id"],
                        "audit": {"status": product["audit_status"], "pre_approved_reason": ""},
                        "update_time": stamp,
                    },
                )
                if revision is None:
                    self._set_status(product, "FAILED" if failed else "ACTIVATE", stamp)
                    continue
                self._unindex(product)
                product.pop("revision")
                if not failed:
                    product["spec"], product["skus"] = revision["spec"], revision["skus"]
                product["update_time"] = stamp
                self._index(product)

    # -- price and stock (no audit) ---------------------------------------------------------
    @staticmethod
    def _sku_versions(product: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """SKU id -> that SKU in the live version and in the one under review.

        Price and stock skip the audit and apply to the live product at once; the version
        under review gets them too, so its approval does not bring back an older price.
        """
        out: dict[str, list[dict[str, Any]]] = {}
        for sku in _all_skus(product):
            out.setdefault(sku["id"], []).append(sku)
        return out

    def update_prices(self, shop: dict[str, Any], product_id: str, skus: list[Any]) -> None:
        with self.state.lock:
            product = self.require(shop["id"], product_id)
            own = self._sku_versions(product)
            updates = []
            for item in skus:
                versions = own.get(str(item.get("id", ""))) if isinstance(item, dict) else None
                if not versions:
                    raise ApiError(C.SKU_NOT_FOUND, "SKU does not belong to the product.")
                p = Problems()
                price = check_price(shop, item.get("price"), p)
                if p.items:
                    raise ApiError(*p.items[0])
                updates.append((versions, price))
            for versions, price in updates:
                for sku in versions:
                    sku["price"] = dict(price) if price else price
            product["update_time"] = self.state.clock.now_int()

    def update_inventory(
        self, shop: dict[str, Any], product_id: str, skus: list[Any]
    ) -> list[dict[str, Any]]:
        errors = []
        with self.state.lock:
            product = self.require(shop["id"], product_id)
            own = self._sku_versions(product)
            for item in skus:
                sku_id = str(item.get("id", "")) if isinstance(item, dict) else ""
                versions = own.get(sku_id)
                if not versions:
                    errors.append(
                        {
                            "code": C.SKU_NOT_FOUND,
                            "message": "SKU does not belong to the product.",
                            "detail": {"sku_id": sku_id, "extra_errors": []},
                        }
                    )
                    continue
                raw = item.get("inventory")
                entries, extra = [], []
                # One entry at a time, so each failure can name its warehouse.
                for inv in raw if isinstance(raw, list) else []:
                    p = Problems()
                    entries += check_inventory(shop, [inv], p)
                    wid = str(inv.get("warehouse_id", "")) if isinstance(inv, dict) else ""
                    extra += [{"code": c, "message": m, "warehouse_id": wid} for c, m in p.items]
                if not entries and not extra:
                    extra.append({"code": C.PARAM_INVALID, "message": "param inventory is missing"})
                if extra:
                    errors.append(
                        {
                            "code": C.BATCH_FAILED,
                            "message": "Inventory update failed.",
                            "detail": {"sku_id": sku_id, "extra_errors": extra},
                        }
                    )
                    continue
                for sku in versions:
                    stock = {i["warehouse_id"]: i for i in sku["inventory"]}
                    stock.update({e["warehouse_id"]: dict(e) for e in entries})
                    sku["inventory"] = list(stock.values())
            product["update_time"] = self.state.clock.now_int()
        return errors

    # -- reads for other modules -----------------------------------------------------------------
    def shop_products(self, shop_id: str) -> list[dict[str, Any]]:
        return list(self.by_shop.get(shop_id, {}).values())

    def get_sku(self, shop_id: str, sku_id: str) -> dict[str, Any] | None:
        entry = self.skus.get(str(sku_id))
        if entry is None:
            return None
        product = self.products[entry[0]]
        return _sku_summary(self, product, entry[1]) if product["shop_id"] == shop_id else None

    def find_by_seller_sku(self, shop_id: str, seller_sku: str) -> dict[str, Any] | None:
        pid = self.sku_owner.get((shop_id, seller_sku))
        if pid is None:
            return None
        product = self.products[pid]
        # A seller SKU only the version under review has is not for sale yet.
        sku = next((s for s in product["skus"] if s["seller_sku"] == seller_sku), None)
        return _sku_summary(self, product, sku) if sku is not None else None

    def count_by_shop(self) -> dict[str, int]:
        return {
            shop: sum(p["status"] != "DELETED" for p in ps.values())
            for shop, ps in self.by_shop.items()
        }

    def duplicate_seller_skus(self) -> dict[str, Any]:
        """Seller SKUs held by more than one live product (0 unless validation is bypassed)."""
        seen: dict[tuple[str, str], int] = {}
        for product in self.products.values():
            if product["status"] != "DELETED":
                for sku in product["skus"]:
                    key = (product["shop_id"], sku["seller_sku"])
                    seen[key] = seen.get(key, 0) + 1
        live: dict[str, int] = {}
        for (shop, _), n in seen.items():
            if n > 1:
                live[shop] = live.get(shop, 0) + 1
        return {"live": live, "rejected": dict(self.state.stats.duplicate_seller_sku_rejections)}

    def list_shop(self, shop_id: str) -> list[dict[str, Any]]:
        return [product_detail(self, p) for p in self.shop_products(shop_id)]


def _all_skus(product: dict[str, Any]) -> list[dict[str, Any]]:
    """The live SKUs, then those of the version under review (if any)."""
    revision = product.get("revision")
    return list(product.get("skus", [])) + (list(revision["skus"]) if revision else [])


def _sku_summary(
    store: ProductStore, product: dict[str, Any], sku: dict[str, Any]
) -> dict[str, Any]:
    images = product["spec"]["main_images"]
    image = store.images.get(images[0]) if images else None
    price = sku.get("price") or {}
    return {
        "product_id": product["id"],
        "sku_id": sku["id"],
        "seller_sku": sku["seller_sku"],
        "product_name": product["spec"]["title"],
        "sku_name": ", ".join(a["value_name"] for a in sku["sales_attributes"]) or "Default",
        "price": price.get("amount", "0"),
        "currency": price.get("currency", ""),
        "image_url": image["url"] if image else "",
        "status": product["status"],
    }
