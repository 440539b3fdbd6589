"""catalog-sync mapping list rows with their product counts, at 100,000 products.

A feed of `--products` parents (1 to 3 variants each, realistic rows of ~1.5 KB with a
description), a category list over `--values` distinct values, uploaded through the HTTP
API into a fresh database; then `GET /v1/feeds/{id}/lists/{name}` (sorted by value, by
products, unmapped only) is timed `--repeat` times each. The count is one set-based pass over
the source's rows (catalog_sync.lists.counted_rows).

Needs the local PostgreSQL and Kafka (`eval "$(bash deploy/local/infra.sh env)"`).

    uv run --no-sync python bench/list_counts_bench.py [--products 100000] [--values 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from asgi_lifespan import LifespanManager
from catalog_sync.app import NAME, create_app
from catalog_sync.cli import MIGRATIONS
from catalog_sync.config import Settings
from tts_common.migrate import migrate_async
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "list_counts.json"
AUTH = {"Authorization": "Bearer dev-api-key"}

FEED_FILE = """
feed: {name: bench-list-counts, market: UK}
source: {id: bench-list-counts, name: bench}
dataflow:
  export:
    - attribute: product_id
    - attribute: parent_id
    - attribute: category_id
      source: product_type
      rules:
        - {type: taxonomy_mapping, list: categories}
        - {type: split_string, splitter: "|", from: 0, items: 1}
lists:
  - {name: categories, taxonomy: tiktok_uk_categories, attribute: product_type}
"""


def ndjson(products: int, values: int) -> bytes:
    rnd = random.Random(7)
    out = bytearray()
    words = "soft cotton blend with a relaxed fit and ribbed cuffs for every day".split()
    for p in range(products):
        ptype = f"Apparel > Type {rnd.randrange(values)}"
        description = " ".join(rnd.choice(words) for _ in range(200))
        for v in range(rnd.randint(1, 3)):
            row = {
                "product_id": f"p{p}-{v}",
                "parent_id": f"p{p}",
                "product_name": f"Product number {p}",
                "description": f"<p>{description}</p>",
                "product_type": ptype,
                "brand": f"Brand {p % 300}",
                "sku.price": "19.99",
                "sku.quantity": "5",
                "images": "https://example.com/a.jpg#https://example.com/b.jpg",
            }
            out += orjson.dumps(row) + b"\n"
    return bytes(out)


async def timed(http: httpx.AsyncClient, path: str, params: dict[str, Any], repeat: int) -> Any:
    times, rows = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        r = await http.get(path, params=params)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text
        rows = len(r.json())
    return {
        "rows": rows,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
    }


async def run(products: int, values: int, repeat: int) -> dict[str, Any]:
    server = os.environ["TTS_DATABASE_URL"]
    name = new_database_name("bench_list_counts")
    admin = await asyncpg.connect(libpq_dsn(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = database_url(server, name)
    try:
        await migrate_async(url, MIGRATIONS, NAME)
        # Its own consumer groups and no workers: the benchmark must never join (and take
        # records from) the consumer groups of a catalog-sync running on the same broker.
        app = create_app(
            Settings(
                database_url=url,
                kafka_bootstrap=os.environ["TTS_KAFKA_BOOTSTRAP"],
                consumer_group_prefix=f"{name}-",
                run_workers=False,
            )
        )
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://catalog", headers=AUTH, timeout=600
            ) as http:
                r = await http.post("/v1/feeds:apply", content=FEED_FILE)
                assert r.status_code == 201, r.text
                feed = r.json()["feed"]["id"]
                body = ndjson(products, values)
                r = await http.put(f"/v1/feeds/{feed}/products?format=ndjson", content=body)
                assert r.status_code == 200, r.text
                rows = r.json()["new"]
                path = f"/v1/feeds/{feed}/lists/categories"
                return {
                    "products": products,
                    "variant_rows": rows,
                    "values": values,
                    "upload_mb": round(len(body) / 1e6, 1),
                    "by_value": await timed(http, path, {}, repeat),
                    "by_products": await timed(http, path, {"sort": "products"}, repeat),
                    "unmapped_by_products": await timed(
                        http, path, {"unmapped": "true", "sort": "products"}, repeat
                    ),
                }
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--values", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = {
        "benchmark": "list_counts",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "what": "GET /v1/feeds/{id}/lists/{name} over ASGI, rows with product counts",
        **asyncio.run(run(args.products, args.values, args.repeat)),
    }
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
