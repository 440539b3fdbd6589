"""Category trees (UK v1 from real data, a hand-made v2) and the brand list.

"Get Categories 202309": `category_version` v1 is the 3-level tree and the default, v2 the
7-level tree. US shops must use v2; a UK shop may ask for either and gets that version's
tree (v1: the real UK leaves; v2: the hand-made tree, the same one the US gets [inferred]).
Ids never cross versions: a v1 id sent with v2 (or the reverse) is 12052230.

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


def load_v2_tree() -> CategoryTree:
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
        uk_v1, v2 = load_uk_tree(), load_v2_tree()
        # Each market's own tree (the version it lists in by default).
        self.trees = {"UK": uk_v1, "US": v2}
        # The tree each (market, category_version) pair is answered with; US has no v1.
        self.versions: dict[tuple[str, str], CategoryTree] = {
            ("UK", "v1"): uk_v1,
            ("UK", "v2"): v2,
            ("US", "v2"): v2,
        }
        self.brands = build_brands()
        self.brands_by_id = {b["id"]: b for b in self.brands}

    def tree(self, market: str, version: str) -> CategoryTree | None:
        """The tree of `version` for the market, or None when the market has no such tree."""
        return self.versions.get((market, version.lower()))

    def market_trees(self, market: str) -> list[CategoryTree]:
        """Every tree the market can list in, its own tree first."""
        own = self.trees[market]
        return [own] + [t for (m, _), t in self.versions.items() if m == market and t is not own]

    def other_versions_have(self, market: str, version: str, category_id: str) -> bool:
        """Whether the id is a category of a tree of another version (12052230, not 12052023)."""
        return any(
            v != version.lower() and t.get(category_id) is not None
            for (_, v), t in self.versions.items()
        )


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    return Catalog()


VERSION_MISMATCH = (
    12052217,
    "The category version is invalid: US shops must use category_version v2.",
)


def tree_for_shop(shop: dict[str, Any], version: str | None) -> CategoryTree:
    """The tree of the asked version (default v1); US shops must ask for v2 (12052217)."""
    from .errors import ApiError

    version = (version or "v1").lower()
    if version not in ("v1", "v2"):
        raise ApiError(36009004, "param category_version is invalid")
    tree = catalog().tree(shop["market"], version)
    if tree is None:
        raise ApiError(*VERSION_MISMATCH)
    return tree
