"""Streaming product parsers (catalog_sync.sources): rows per second.

Generates `--rows` rows of a 25-column product CSV in memory (ids, names, a quoted field
with a comma, prices, option values, image URLs, plus one multi-line quoted description
every 100 rows), then feeds it in 64 KiB chunks as an HTTP body would arrive:

1. **csv** — plain bytes, `format=csv`;
2. **csv.gz** — the same bytes gzip-compressed (inflating is part of the timing);
3. **ndjson** — the same rows as one JSON object per line.

Each pass must emit every row (none refused). The clock covers feed + close only (not
generating the data); rows are consumed and dropped as the intake does. Target:
>= 100,000 rows/s for the plain CSV (docs/feeds.md, "Product sources").

    uv run python bench/catalog_parse_bench.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from catalog_sync.sources import Row, open_parser

RESULTS = Path(__file__).resolve().parent / "results" / "catalog_parse.json"
CHUNK = 1 << 16
COLUMNS = 25


def make_rows(n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        parent = f"P{i // 4:07d}"
        row = {
            "product_id": f"SKU{i:08d}",
            "parent_id": parent,
            "product_name": f"Organic cotton t-shirt {i // 4}",
            "description": (
                "Soft organic cotton tee.\nMachine washable."
                if i % 100 == 0
                else "Soft organic cotton tee, regular fit, crew neck."
            ),
            "brand_name": "Acme, Inc.",
            "category": "Clothing > Tops > T-Shirts",
            "sku.price": f"{10 + i % 50}.99",
            "sku.currency": "EUR",
            "sku.quantity": str(i % 37),
            "sku.gtin": f"{4006381333931 + i}",
            "sku.sales_attribute.Color": ("Red", "Blue", "Green", "Black")[i % 4],
            "sku.sales_attribute.Size": ("S", "M", "L", "XL")[i % 4],
            "images": f"https://cdn.example.com/{parent}/1.jpg#https://cdn.example.com/{parent}/2.jpg",
            "sku.image": f"https://cdn.example.com/{parent}/{i % 4}.jpg",
            "package_weight": "0.25",
            "package_weight_unit": "KILOGRAM",
            "package_length": "30",
            "package_width": "20",
            "package_height": "2",
            "package_dimension_unit": "CENTIMETER",
            "material": "cotton",
            "gender": "unisex",
            "condition": "new",
            "tags": "summer#basics",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        rows.append(row)
    assert len(rows[0]) == COLUMNS
    return rows


def to_csv(rows: list[dict[str, str]]) -> bytes:
    import csv

    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def to_ndjson(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def run(fmt: str, data: bytes, expected: int) -> float:
    parser = open_parser(fmt)
    emitted = 0
    started = time.perf_counter()
    for start in range(0, len(data), CHUNK):
        for item in parser.feed(data[start : start + CHUNK]):
            emitted += type(item) is Row
    for item in parser.close():
        emitted += type(item) is Row
    elapsed = time.perf_counter() - started
    if emitted != expected:
        raise SystemExit(f"{fmt}: {emitted} rows emitted, expected {expected}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per pass")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    rows = make_rows(args.rows)
    plain = to_csv(rows)
    passes = {"csv": ("csv", plain), "csv.gz": ("csv", gzip.compress(plain, 6))}
    passes["ndjson"] = ("ndjson", to_ndjson(rows))
    del rows
    result: dict[str, object] = {
        "benchmark": "catalog_parse",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "columns": COLUMNS,
        "chunk_bytes": CHUNK,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "target_csv_rows_per_s": 100_000,
    }
    for name, (fmt, data) in passes.items():
        best = min(run(fmt, data, args.rows) for _ in range(args.repeat))
        rate = args.rows / best
        result[name] = {"bytes": len(data), "seconds": round(best, 3), "rows_per_s": round(rate)}
        print(f"{name:8} {len(data) / 1e6:7.1f} MB  {best:6.3f} s  {rate:10,.0f} rows/s")
    csv_rate = result["csv"]["rows_per_s"]  # type: ignore[index]
    result["meets_target"] = csv_rate >= 100_000
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
