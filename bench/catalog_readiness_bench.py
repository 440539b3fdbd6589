"""catalog-sync readiness analyzer and mapping suggestions, in one process.

1. **readiness** — `--rows` export rows (default 1,000,000; 1 to 4 variants per product,
   three categories with 5-7 category attributes each, 1 % of products with a defect) are
   generated lazily and fed to `ReadinessAnalyzer.add` one parent at a time, as the run
   streams them from the database; the rows are never held in memory. Reports rows/s
   and the process's peak RSS, which must stay flat as the row count grows (the analyzer
   keeps counters and bounded value distributions only).
2. **suggestions** — a text index over ~5,000 leaf categories (the 1,575 real UK leaves
   plus synthetic ones) and `suggest_text` for `--values` distinct source values.

No infrastructure needed.

    uv run python bench/catalog_readiness_bench.py [--rows 1000000] [--values 3000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catalog_sync.classify import schema_for
from catalog_sync.readiness import ReadinessAnalyzer, group_by_parent
from catalog_sync.suggest import SuggestionIndex, suggest_text
from catalog_sync.taxonomy import (
    AttributeValue,
    CategoryAttribute,
    TaxonomyBrand,
    TaxonomyCategory,
    clean_name,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "catalog_readiness.json"
UK_LEAVES = ROOT / "services" / "catalog-sync" / "tests" / "data" / "uk-leaf-categories-v1.csv"

COLORS = ["Red", "Blue", "Black", "White", "Green", "Grey", "Pink", "Navy"]
OCCASIONS = ["Birthday", "Wedding", "Christmas", "Anniversary", "Daily", "Party"]


def vals(first: int, names: list[str]) -> tuple[AttributeValue, ...]:
    return tuple(AttributeValue(id=str(first + i), name=n) for i, n in enumerate(names))


COLOR = CategoryAttribute(
    id="100089", name="Color", kind="sales", customizable=True, values=vals(1000100, COLORS)
)
SIZE = CategoryAttribute(
    id="100000", name="Size", kind="sales", values=vals(1000200, ["S", "M", "L", "XL"])
)
OCCASION = CategoryAttribute(
    id="100392",
    name="Occasion",
    kind="product",
    multi_select=True,
    values=vals(1001533, OCCASIONS),
)
MATERIAL = CategoryAttribute(
    id="100198",
    name="Material",
    kind="product",
    required=True,
    customizable=True,
    multi_select=True,
    values=vals(1002000, ["Cotton", "Polyester", "Wood", "Metal"]),
)
QTY = CategoryAttribute(
    id="100347",
    name="Quantity Per Pack",
    kind="product",
    customizable=True,
    value_format="POSITIVE_INT_OR_DECIMAL",
)
FOLDABLE = CategoryAttribute(
    id="101610",
    name="Foldable Furniture",
    kind="product",
    required=True,
    values=vals(1029401, ["Foldable", "Non-Foldable"]),
)
WARRANTY = CategoryAttribute(
    id="100101",
    name="Warranty Period",
    kind="product",
    required=True,
    values=vals(1005000, ["No Warranty", "1 Year", "2 Years"]),
)
CATEGORIES = {
    "604468": [COLOR, OCCASION, MATERIAL, QTY, FOLDABLE],
    "804744": [COLOR, SIZE, OCCASION, MATERIAL, QTY],
    "601226": [COLOR, OCCASION, QTY, WARRANTY],
}


def rows(total: int, seed: int = 7) -> Iterator[dict[str, str]]:
    """Export rows, grouped by parent, generated on the fly."""
    rng = random.Random(seed)
    made = 0
    parent = 0
    cats = list(CATEGORIES)
    while made < total:
        parent += 1
        cid = cats[parent % len(cats)]
        variants = min(rng.randint(1, 4), total - made)
        broken = rng.random() < 0.01
        shared = {
            "parent_id": f"P{parent}",
            "product_name": f"Product {parent} in a nice colour",
            "description": "<p>Made <strong>well</strong>.</p><ul><li>One</li></ul>",
            "category_id": cid,
            "brand_id": "7082427311584347905",
            "images": f"https://img.example/{parent}/1.jpg#https://img.example/{parent}/2.jpg",
            "package_weight": "heavy" if broken else "1.5",
            "package_weight_unit": "KILOGRAM",
            "product_attribute.Occasion#100392": f"{OCCASIONS[parent % 6]}:::::{1001533 + parent % 6}",
            "product_attribute.Material#100198": "Cotton:::::1002000#Linen",
            "product_attribute.Quantity Per Pack#100347": "2",
            "product_attribute.Foldable Furniture#101610": "Non-Foldable:::::1029402",
            "product_attribute.Warranty Period#100101": "1 Year:::::1005001",
        }
        for k in range(variants):
            yield {
                **shared,
                "product_id": f"P{parent}-{k}",
                "sku.price": f"{rng.randint(1, 300)}.99",
                "sku.currency": "GBP",
                "sku.quantity": str(rng.randint(0, 500)),
                "sku.seller_sku": f"P{parent}-{k}",
                "sku.sales_attribute.Color": COLORS[k],
                "sku.sales_attribute.Size": "SML"[k % 3],
            }
        made += variants


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_readiness(total: int) -> dict[str, Any]:
    schemas = {cid: schema_for(attrs, market="UK") for cid, attrs in CATEGORIES.items()}
    brands = {
        "7082427311584347905": TaxonomyBrand(
            id="7082427311584347905", name="Teas", authorized_status="AUTHORIZED"
        )
    }
    analyzer = ReadinessAnalyzer(schemas, market="UK", brands=brands)
    rss_before = max_rss_mb()
    issues = 0
    start = time.perf_counter()
    for group in group_by_parent(rows(total)):
        issues += len(analyzer.add(group).issues)
    seconds = time.perf_counter() - start
    report = analyzer.report()
    return {
        "rows": report.rows,
        "products": report.products,
        "issues": issues,
        "seconds": round(seconds, 2),
        "rows_per_s": round(report.rows / seconds),
        "products_per_s": round(report.products / seconds),
        "max_rss_mb_before": round(rss_before, 1),
        "max_rss_mb_after": round(max_rss_mb(), 1),
        "note": "rows include generation; the analyzer holds counters only",
    }


def leaves_5000() -> list[TaxonomyCategory]:
    out = []
    with UK_LEAVES.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names = [clean_name(p) for p in row["category_path"].split(">")]
            out.append(
                TaxonomyCategory(
                    id=row["category_id"].strip(),
                    parent_id="0",
                    name=names[-1],
                    path=">".join(names),
                    level=len(names),
                    is_leaf=True,
                )
            )
    rng = random.Random(11)
    real = list(out)
    n = 0
    while len(out) < 5_000:
        a, b = rng.sample(real, 2)
        n += 1
        names = [*a.path.split(">")[:2], f"{b.name} {a.name.split()[-1]}"]
        out.append(
            TaxonomyCategory(
                id=str(990_000_000 + n),
                parent_id="0",
                name=names[-1],
                path=">".join(names),
                level=len(names),
                is_leaf=True,
            )
        )
    return out


def bench_suggest(values: int) -> dict[str, Any]:
    cats = leaves_5000()
    start = time.perf_counter()
    index = SuggestionIndex.for_categories(cats)
    build = time.perf_counter() - start
    rng = random.Random(3)
    words = sorted({w for c in cats for w in c.path.replace(">", " ").split() if len(w) > 3})
    queries = [
        " > ".join(" ".join(rng.sample(words, rng.randint(1, 3))) for _ in range(rng.randint(1, 3)))
        + f" {i}"
        for i in range(values)
    ]
    start = time.perf_counter()
    out = suggest_text(queries, index, limit=3)
    seconds = time.perf_counter() - start
    return {
        "leaf_categories": len(cats),
        "values": values,
        "index_build_seconds": round(build, 3),
        "seconds": round(seconds, 3),
        "values_per_s": round(values / seconds),
        "values_with_a_suggestion": sum(1 for v in out.values() if v),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--values", type=int, default=3_000)
    args = parser.parse_args()
    result = {
        "benchmark": "catalog-sync readiness analyzer and mapping suggestions",
        "readiness": bench_readiness(args.rows),
        "suggestions": bench_suggest(args.values),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
