"""Category trees (UK v1 from real data, US v2 hand-made) and the brand list.

Built once per process (`catalog()`), read-only afterwards, so no lock is needed.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
# Whole top-level groups that need an invitation (plus a deterministic sprinkle below).
INVITE_ONLY_GROUPS = frozenset({"Collections"})
OFFICIAL_BRAND = ("7082427311584347905", "Teas")


@dataclass
class Category:
    id: str
    parent_id: str
    local_name: str
    path: tuple[str, ...]
    is_leaf: bool = False
    permission_statuses: list[str] = field(default_factory=lambda: ["AVAILABLE"])

    @property
    def level(self) -> int:
        return len(self.path)

    @property
    def group(self) -> str:
        return self.path[0]

    @property
    def invite_only(self) -> bool:
        return "INVITE_ONLY" in self.permission_statuses

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "local_name": self.local_name,
            "is_leaf": self.is_leaf,
            "permission_statuses": list(self.permission_statuses),
        }


class CategoryTree:
    def __init__(self, version: str, categories: list[Category]) -> None:
        self.version = version
        self.by_id = {c.id: c for c in categories}
        self.ordered = categories

    def get(self, category_id: str) -> Category | None:
        return self.by_id.get(str(category_id))

    def chain(self, category_id: str) -> list[Category]:
        """Root-first ancestors of a category, itself included."""
        out: list[Category] = []
        node = self.get(category_id)
        while node is not None:
            out.append(node)
            node = self.by_id.get(node.parent_id)
        return out[::-1]

    def leaves(self) -> list[Category]:
        return [c for c in self.ordered if c.is_leaf]

    def search(self, keyword: str | None) -> list[Category]:
        if not keyword:
            return list(self.ordered)
        needle = keyword.strip().lower()
        return [c for c in self.ordered if needle in c.local_name.lower()]


def _stable_id(namespace: str, path: tuple[str, ...], taken: set[str]) -> str:
    """A 9-digit id from the path hash; probing keeps it unique and still deterministic."""
    digest = hashlib.blake2b(f"{namespace}:{'>'.join(path)}".encode(), digest_size=8).digest()
    n = 100_000_000 + int.from_bytes(digest, "big") % 800_000_000
    while str(n) in taken:
        n += 1
    taken.add(str(n))
    return str(n)


def _build(
    version: str, namespace: str, leaves: list[tuple[str | None, tuple[str, ...]]]
) -> CategoryTree:
    """Create parents from leaf paths; leaves keep a given id or get a derived one."""
    taken = {leaf_id for leaf_id, _ in leaves if leaf_id}
    nodes: dict[tuple[str, ...], Category] = {}
    # Sorted paths: derived ids do not depend on the file's row order.
    for leaf_id, path in sorted(leaves, key=lambda item: item[1]):
        for depth in range(1, len(path) + 1):
            sub = path[:depth]
            if sub in nodes:
                continue
            is_leaf = depth == len(path)
            cid = leaf_id if (is_leaf and leaf_id) else _stable_id(namespace, sub, taken)
            parent = nodes[sub[:-1]].id if depth > 1 else "0"
            nodes[sub] = Category(cid, parent, sub[-1], sub, is_leaf=is_leaf)
    for cat in nodes.values():
        if cat.is_leaf and (cat.group in INVITE_ONLY_GROUPS or int(cat.id) % 29 == 0):
            cat.permission_statuses = ["INVITE_ONLY"]
    return CategoryTree(version, list(nodes.values()))


def _clean(name: str) -> str:
    # The source data has names with trailing tabs, some as a literal backslash-t.
    return re.sub(r"(\\t|\s)+$", "", name).strip()


def load_uk_tree() -> CategoryTree:
    leaves: list[tuple[str | None, tuple[str, ...]]] = []
    with (DATA / "uk-leaf-categories-v1.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = tuple(_clean(part) for part in row["category_path"].split(">"))
            leaves.append((row["category_id"].strip(), path))
    return _build("v1", "uk", leaves)


def load_us_tree() -> CategoryTree:
    spec = json.loads((DATA / "us-categories-v2.json").read_text(encoding="utf-8"))
    spec.pop("_comment", None)
    leaves: list[tuple[str | None, tuple[str, ...]]] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, list):
            leaves.extend((None, (*path, name)) for name in node)
        else:
            for name, child in node.items():
                walk(child, (*path, name))

    walk(spec, ())
    return _build("v2", "us", leaves)


_BRAND_WORDS_A = [
    "Aurora", "Birch", "Cedar", "Delta", "Ember", "Fable", "Granite", "Harbor", "Indigo",
    "Juniper", "Kestrel", "Lumen", "Maple", "Nimbus", "Orchid", "Pioneer", "Quartz",
    "Riverstone", "Summit", "Tidal", "Umber", "Velvet",
]  # fmt: skip
_BRAND_WORDS_B = [
    "Home",
    "Living",
    "Works",
    "Studio",
    "Goods",
    "Co",
    "Craft",
    "Supply",
    "Lab",
    "Wear",
]


def build_brands() -> list[dict[str, Any]]:
    """220 brands: the official sample first; some UNAUTHORIEZD (sic), some UNAVAILABLE."""
    brands = [
        {
            "id": OFFICIAL_BRAND[0],
            "name": OFFICIAL_BRAND[1],
            "authorized_status": "AUTHORIZED",
            "is_t1_brand": False,
            "brand_status": "AVAILABLE",
        }
    ]
    base = int(OFFICIAL_BRAND[0])
    for i, (a, b) in enumerate(((a, b) for b in _BRAND_WORDS_B for a in _BRAND_WORDS_A), start=1):
        brands.append(
            {
                "id": str(base + i * 7919),
                "name": f"{a} {b}",
                "authorized_status": "UNAUTHORIEZD" if i % 8 == 3 else "AUTHORIZED",
                "is_t1_brand": i % 6 == 0,
                "brand_status": "UNAVAILABLE" if i % 13 == 5 else "AVAILABLE",
            }
        )
        if len(brands) >= 220:
            break
    return brands


class Catalog:
    def __init__(self) -> None:
        self.trees = {"UK": load_uk_tree(), "US": load_us_tree()}
        self.brands = build_brands()
        self.brands_by_id = {b["id"]: b for b in self.brands}


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    return Catalog()


VERSION_MISMATCH = (
    12052217,
    "The category version is invalid: US shops must use category_version v2.",
)


def tree_for_shop(shop: dict[str, Any], version: str | None) -> CategoryTree:
    """The shop's tree; US shops must ask for v2 (12052217), the UK tree answers v1 and v2."""
    from .errors import ApiError

    version = (version or "v1").lower()
    if version not in ("v1", "v2"):
        raise ApiError(36009004, "param category_version is invalid")
    if shop["market"] == "US" and version != "v2":
        raise ApiError(*VERSION_MISMATCH)
    return catalog().trees[shop["market"]]
