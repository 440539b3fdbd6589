"""Custom brands a seller creates ("Create Custom Brands 202309", `POST /product/202309/brands`).

The seeded catalogue brands are read-only and shared (`catalog_seed.py`); the brands a
seller creates live here, per seller, so one test server never sees another's. Rules
from the Create Custom Brands doc text: the name is 2-30 characters without Chinese,
and no authorization is needed to create one. The created brand is listed by Get
Brands for the seller's shops and usable in its product bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog_seed import catalog
from .errors import ApiError
from .product_validation import CHINESE_RE
from .snowflake import new_id

if TYPE_CHECKING:
    from .state import SandboxState

NAME_MIN, NAME_MAX = 2, 30
# [inferred] no public source gives the code for a name that is already taken.
BRAND_EXISTS = 12052202


class CustomBrands:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._by_seller: dict[str, dict[str, dict[str, Any]]] = {}

    def create(self, seller_id: str, name: Any) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise ApiError(36009004, "param body.name is missing")
        name = name.strip()
        if not NAME_MIN <= len(name) <= NAME_MAX:
            raise ApiError(
                36009004, f"param body.name is invalid: {NAME_MIN}-{NAME_MAX} characters"
            )
        if CHINESE_RE.search(name):
            raise ApiError(36009004, "param body.name is invalid: Chinese is not allowed")
        with self.state.lock:
            taken = {b["name"].lower() for b in self.for_seller(seller_id)}
            if name.lower() in taken:
                raise ApiError(BRAND_EXISTS, f"The brand [{name}] already exists.")
            brand = {
                "id": new_id(),
                "name": name,
                # A seller's own brand needs no authorization to list with [inferred].
                "authorized_status": "AUTHORIZED",
                "is_t1_brand": False,
                "brand_status": "AVAILABLE",
            }
            self._by_seller.setdefault(seller_id, {})[brand["id"]] = brand
            return dict(brand)

    def for_seller(self, seller_id: str) -> list[dict[str, Any]]:
        """The catalogue brands followed by the seller's own, in creation order."""
        with self.state.lock:
            own = list(self._by_seller.get(seller_id, {}).values())
        return [*catalog().brands, *own]

    def find(self, seller_id: str, brand_id: str) -> dict[str, Any] | None:
        found = catalog().brands_by_id.get(brand_id)
        if found is not None:
            return found
        with self.state.lock:
            return self._by_seller.get(seller_id, {}).get(brand_id)
