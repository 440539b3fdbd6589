"""`format=shopify`: a Shopify product CSV export, loaded as is.

A Shopify export has one row per variant and per extra image, grouped by `Handle` (the
rows of one handle are contiguous): the first row of a handle carries the product (Title,
Body (HTML), Vendor, Type, Tags, option names…) and its first variant; the next rows carry
either another variant (option values, `Variant *` columns) or only an image (`Image Src`,
`Image Position`). The parser holds the rows of one handle and emits the handle's variants
when the next handle starts (or at close), each variant as one row (docs/feeds.md,
"Product sources" → "Shopify"):

- every original column is kept under its own name; a variant row's empty product columns
  (Title, Vendor, Tags, SEO…, option names) take the product row's values;
- the common attributes are added: `parent_id` (Handle), `product_id` (Variant SKU, else a
  stable id made from the handle and the option values), `product_name`, `description`,
  `brand_name`, `images` (every image of the handle by Image Position, `#`-joined),
  `main_image`, `package_weight` (kg) + `package_weight_unit`, and the per-variant
  `sku.price`, `sku.quantity`, `sku.gtin`, `sku.image`, `sku.seller_sku` and
  `sku.sales_attribute.<Option Name>` (not for the "Title: Default Title" placeholder of a
  product without variants).
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from catalog_sync.sources.base import Parsed, Reason, SourceError, refusal
from catalog_sync.sources.csv_format import CsvParser
from catalog_sync.sources.options import SourceOptions

HANDLE = "Handle"
OPTIONS = (1, 2, 3)
PLACEHOLDER_OPTION = ("Title", "Default Title")
# Columns that belong to one variant (or one image row) and are never inherited.
_VARIANT_PREFIXES = ("Variant ", "Price / ", "Compare At Price / ")
_VARIANT_COLUMNS = frozenset({"Cost per item"})
_IMAGE_PREFIX = "Image "
_KG = Decimal("0.001")


def is_variant_column(name: str) -> bool:
    """Shopify columns whose value is a variant's own (option values, `Variant *`, prices)."""
    if name.startswith(_VARIANT_PREFIXES) or name in _VARIANT_COLUMNS:
        return True
    return name.startswith("Option") and (name.endswith(" Value") or name.endswith(" Linked To"))


def is_product_column(name: str) -> bool:
    """Columns a variant row inherits from its product's first row when empty."""
    return name != HANDLE and not name.startswith(_IMAGE_PREFIX) and not is_variant_column(name)


def slug(text: str) -> str:
    """Lowercase letters and digits, runs of anything else as one `-` (no regex: per variant)."""
    chars = [c if c.isalnum() else " " for c in text.lower()]
    return "-".join("".join(chars).split())


def derived_product_id(handle: str, values: list[str]) -> str:
    """The product_id of a variant without a Variant SKU: `<handle>-<option values slug>`.

    The handle alone for a product without options (the "Default Title" placeholder); a value
    that has no letter nor digit is replaced by a short hash of the values, so the id stays
    deterministic: the same handle and option values give the same id in every upload.
    """
    present = [v for v in values if v]
    if not present:
        return handle
    parts = [slug(v) for v in present]
    if not all(parts):
        return f"{handle}-{_short_hash(present)}"
    return "-".join([handle, *parts])


def _short_hash(values: list[str]) -> str:
    digest = hashlib.sha1("\x1f".join(values).encode(), usedforsecurity=False)
    return digest.hexdigest()[:8]


def kilograms(grams: str) -> str:
    """Shopify's `Variant Grams` (always grams, whatever the display unit) in kilograms.

    Empty for an empty, unreadable or zero weight (Shopify writes 0 when none was set).
    """
    try:
        value = Decimal(grams.strip())
    except InvalidOperation:
        return ""
    if not value.is_finite() or value <= 0:
        return ""
    kg = max((value / 1000).quantize(_KG, rounding=ROUND_HALF_UP), _KG)
    return format(kg.normalize(), "f")


def _position(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


class ShopifyParser(CsvParser):
    """A Shopify product CSV export; rows of one handle are emitted when the handle ends."""

    def __init__(self, options: SourceOptions) -> None:
        super().__init__(options, sink=self._take_row)
        self._group: list[tuple[int, dict[str, str]]] = []
        self._handle: str | None = None
        self._first_line_of: dict[str, int] = {}
        self._variant_columns: list[str] = []
        self._product_columns: list[str] = []

    def _on_header(self, header: list[str]) -> None:
        if HANDLE not in header:
            raise SourceError(
                f"not a Shopify product CSV: no {HANDLE!r} column "
                f"(the header has {len(header)} columns)"
            )
        self._variant_columns = [c for c in header if is_variant_column(c)]
        self._product_columns = [c for c in header if is_product_column(c)]
        # product_id is derived, so a field-count refusal cannot name it.
        self._product_id_index = None

    def _take_row(self, line: int, data: dict[str, str], out: list[Parsed]) -> None:
        handle = data[HANDLE].strip()
        if handle == self._handle:
            self._group.append((line, data))
            return
        self._flush(out)
        refuse = self._checker.refuse
        if not handle:
            self._handle = None
            out.append(refuse(refusal(line, Reason.MISSING_HANDLE, "the row has no Handle")))
            return
        first = self._first_line_of.get(handle)
        if first is not None:
            self._handle = None
            detail = f"handle {handle!r} started on line {first}; its rows must be together"
            out.append(refuse(refusal(line, Reason.HANDLE_NOT_CONTIGUOUS, detail)))
            return
        self._first_line_of[handle] = line
        self._handle = handle
        self._group.append((line, data))

    def _finish(self, out: list[Parsed]) -> None:
        super()._finish(out)
        self._flush(out)

    def _flush(self, out: list[Parsed]) -> None:
        group = self._group
        if not group:
            return
        self._group = []
        product = group[0][1]
        variants = [group[0]]
        images: list[tuple[float, int, str]] = []
        for index, (line, row) in enumerate(group):
            src = row.get("Image Src", "").strip()
            if src:
                images.append((_position(row.get("Image Position", "")), index, src))
            if index == 0:
                continue
            if any(row[c] for c in self._variant_columns):
                variants.append((line, row))
            elif src:
                self.summary.merged += 1
            else:
                detail = "neither a variant nor an image, only the handle"
                out.append(self._checker.refuse(refusal(line, Reason.EMPTY_ROW, detail)))
        urls = list(dict.fromkeys(url for _, _, url in sorted(images)))
        shared = {
            "parent_id": product[HANDLE].strip(),
            "product_name": product.get("Title", ""),
            "description": product.get("Body (HTML)", ""),
            "brand_name": product.get("Vendor", ""),
            "images": "#".join(urls),
            "main_image": urls[0] if urls else "",
        }
        names = [product.get(f"Option{i} Name", "").strip() for i in OPTIONS]
        used_ids: set[str] = set()
        check = self._checker.check
        for line, row in variants:
            if row is not product:
                for column in self._product_columns:
                    if not row[column]:
                        row[column] = product[column]
            out.append(check(line, self._variant(row, shared, names, used_ids)))

    def _variant(
        self, row: dict[str, str], shared: dict[str, str], names: list[str], used: set[str]
    ) -> dict[str, str]:
        row.update(shared)
        values: list[str] = []
        for i, product_name in zip(OPTIONS, names, strict=True):
            name = row.get(f"Option{i} Name", "").strip() or product_name
            value = row.get(f"Option{i} Value", "").strip()
            if not name or (name, value) == PLACEHOLDER_OPTION:
                continue
            values.append(value)
            row[f"sku.sales_attribute.{name}"] = value
        sku = row.get("Variant SKU", "").strip()
        product_id = sku
        if not product_id:
            product_id = derived_product_id(shared["parent_id"], values)
            if product_id in used:  # two option values with the same slug ("S/M", "S M")
                product_id = f"{product_id}-{_short_hash(values)}"
        used.add(product_id)
        row["product_id"] = product_id
        row["sku.seller_sku"] = product_id
        row["sku.price"] = row.get("Variant Price", "")
        row["sku.quantity"] = row.get("Variant Inventory Qty", "")
        row["sku.gtin"] = row.get("Variant Barcode", "").strip()
        row["sku.image"] = row.get("Variant Image", "")
        weight = kilograms(row.get("Variant Grams", ""))
        row["package_weight"] = weight
        row["package_weight_unit"] = "KILOGRAM" if weight else ""
        return row
