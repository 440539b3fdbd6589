"""catalog-sync product intake: a 1,000,000-variant snapshot through the real service.

Generates, once per run into a temporary directory, `--rows` variant rows (25 attributes in
the export naming of docs/feeds.md: ids, ~40-character titles, ~200-character descriptions
with commas and the odd line break, prices, quantities, 3-5 image URLs joined by `#`, a
category, a brand, sales attributes, a GTIN, a category attribute; `--variants` per parent)
as CSV, as NDJSON and, for PostgreSQL's own loader, as (product_id, parent_id, seq, JSON).
Then, against `catalog-sync serve` started as its own process (fresh database on the running
PostgreSQL, real Kafka, `TTS_LOG_LEVEL=WARNING`):

1. **`\\copy`** — `psql \\copy` of the same rows, twice: the CSV file into a table of 25 text
   columns (PostgreSQL reading the very file, nothing else), and the JSON file into a table
   shaped like `source_products` (product_id primary key, parent index, `data jsonb`): the
   cost of storing the rows the way the intake must store them. The second is the fair
   baseline for the ratio: both write the same JSONB rows and indexes; what remains is the
   intake's own work (HTTP, parsing, hashing, staging, the set-based merge);
2. **intake** — `PUT /v1/feeds/{id}/products?format=csv` with the file streamed from disk
   (never held in memory by the client); every row must come back `new`;
3. **re-upload** — the same unchanged file again; every row must come back `unchanged`;
   then (informational) a daily delta: the same rows with every 20th one's price and stock
   changed, which must come back as exactly those `changed`;
4. **ndjson** — the NDJSON file into a second feed (its own source), then unchanged again;
5. **transform + validate + group** — the stored rows read back from the database in the
   pipeline's order (parent, then intake order), in this process: `Dataflow.compile()
   .transform` (a 26-attribute TikTok dataflow), `readiness.ReadinessAnalyzer.add` per
   parent, `dataflow.group_variants`; only those calls are timed, not the read;
6. **parser memory** — the CSV parsed in this process, and the size of the parser's
   duplicate-id index (one entry per product_id) measured.

A `VACUUM (ANALYZE)` of the products and a `CHECKPOINT` precede each timed upload (a
`CHECKPOINT` each `\\copy`): no phase pays for the previous one's aftermath (autovacuum, WAL).
Peak RSS is `VmHWM` of the server's Python process and `ru_maxrss` of this one. Targets
(on the CSV upload; NDJSON's numbers are reported beside them): intake >= 50,000 rows/s and
>= 0.5x the JSONB `\\copy` rate, re-upload >= 100,000 rows/s, transform >= 50,000
variants/s, peak RSS <= 1.5 GB per process.

The service's default HTTP limits (`TTS_BODY_TIMEOUT_SECONDS` 15 s for the whole body,
`TTS_REQUEST_TIMEOUT_SECONDS` 60 s) are shorter than a 1,000,000-row upload takes; the server
is started with both raised (recorded in the JSON).

    eval "$(deploy/local/infra.sh env)"                 # TTS_DATABASE_URL, TTS_KAFKA_BOOTSTRAP
    uv run --no-sync python bench/catalog_intake_bench.py [--rows 1000000] [--formats csv,ndjson]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from catalog_sync.classify import schema_for
from catalog_sync.dataflow import Dataflow, group_variants
from catalog_sync.readiness import ReadinessAnalyzer, group_by_parent
from catalog_sync.sources import open_parser
from catalog_sync.taxonomy import AttributeValue, CategoryAttribute, TaxonomyBrand
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "catalog_intake.json"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
DEFAULT_KAFKA = "127.0.0.1:9092"
AUTH = {"Authorization": "Bearer dev-api-key"}
PSQL = "/usr/bin/psql"
UPLOAD_CHUNK = 1 << 20  # bytes the client reads from disk per send
READ_BATCH = 20_000  # rows read back from the database per timed transform batch

TARGET_INTAKE_ROWS_PER_S = 50_000
TARGET_COPY_RATIO = 0.5
TARGET_REUPLOAD_ROWS_PER_S = 100_000
TARGET_TRANSFORM_VARIANTS_PER_S = 50_000
TARGET_PEAK_RSS_MB = 1536.0
CHANGED_EVERY = 20  # a daily delta: 5 % of the rows with a new price and stock
SERVER_LIMITS = {"TTS_BODY_TIMEOUT_SECONDS": "3600", "TTS_REQUEST_TIMEOUT_SECONDS": "0"}

# --- the rows --------------------------------------------------------------------------

COLUMNS = (
    "product_id",
    "parent_id",
    "product_name",
    "description",
    "category_id",
    "category_path",
    "brand_id",
    "brand_name",
    "images",
    "main_image",
    "package_weight",
    "package_weight_unit",
    "package_length",
    "package_width",
    "package_height",
    "package_dimension_unit",
    "sku.price",
    "sku.currency",
    "sku.quantity",
    "sku.seller_sku",
    "sku.sales_attribute.Colour",
    "sku.sales_attribute.Size",
    "sku.gtin",
    "sku.image",
    "product_attribute.Material#100157",
)
CATEGORIES = (
    ("600621", "Home Supplies>Home Organizers>Storage Boxes & Bins"),
    ("600686", "Home Supplies>Home Organizers>Storage Baskets"),
    ("601226", "Home Supplies>Home Decor>Cushions"),
    ("604468", "Womenswear & Underwear>Women's Tops>T-shirts"),
    ("804744", "Menswear & Underwear>Men's Tops>T-shirts"),
)
BRANDS = (
    ("7082427311584347905", "Northwind"),
    ("7082427311584347906", "Acme Home"),
    ("7082427311584347907", "Harbour & Pine"),
)
MATERIALS = ("Cotton:::::1000123", "Polyester:::::1000124", "Wool:::::1000125", "Linen")
COLOURS = ("Black", "White", "Navy", "Red", "Forest Green", "Grey", "Ocean Blue", "Pink")
SIZES = ("XS", "S", "M", "L", "XL", "XXL")
NOUNS = ("storage box", "t-shirt", "cushion cover", "basket", "hoodie", "throw", "tote bag")
ADJECTIVES = ("organic", "recycled", "soft", "sturdy", "classic", "relaxed", "premium")
WORDS = (
    "made of durable recycled material, easy to clean and built to last. "
    "a relaxed fit with a crew neck, ribbed cuffs and a soft brushed finish; "
    "machine washable at 30 degrees, do not tumble dry, iron on low heat. "
    "stackable, foldable when empty, with reinforced handles and a lid that closes firmly."
).split()


def _description(rnd: random.Random, parent: int) -> str:
    words: list[str] = []
    size = 0
    while size < 195:
        word = rnd.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    text = " ".join(words).capitalize()
    if parent % 100 == 0:  # a quoted line break now and then, as real exports have
        text = text.replace(". ", ".\n", 1)
    return text


def generate_rows(total: int, variants: int, seed: int = 11) -> Iterator[dict[str, str]]:
    """`total` rows, `variants` consecutive rows per parent (the last parent may have fewer)."""
    rnd = random.Random(seed)
    made = 0
    parent = 0
    while made < total:
        parent += 1
        pid = f"P{parent:07d}"
        category_id, category_path = CATEGORIES[parent % len(CATEGORIES)]
        brand_id, brand_name = BRANDS[parent % len(BRANDS)]
        noun = NOUNS[parent % len(NOUNS)]
        title = f"{brand_name} {rnd.choice(ADJECTIVES)} {noun} no. {parent}"
        title = (title + " with gift box")[:44] if len(title) < 36 else title
        base = f"https://cdn.example-shop.co.uk/products/{pid}"
        images = [f"{base}/{k}-1600x1600.jpg" for k in range(1, 3 + parent % 3 + 1)]
        shared = {
            "parent_id": pid,
            "product_name": title,
            "description": _description(rnd, parent),
            "category_id": category_id,
            "category_path": category_path,
            "brand_id": brand_id,
            "brand_name": brand_name,
            "images": "#".join(images),
            "main_image": images[0],
            "package_weight": f"{rnd.randint(5, 400) / 100:.2f}",
            "package_weight_unit": "KILOGRAM",
            "package_length": str(rnd.randint(10, 60)),
            "package_width": str(rnd.randint(10, 40)),
            "package_height": str(rnd.randint(2, 30)),
            "package_dimension_unit": "CENTIMETER",
        }
        material = MATERIALS[parent % len(MATERIALS)]
        for v in range(min(variants, total - made)):
            sku = f"{pid}-{v + 1:02d}"
            row = {"product_id": sku, **shared}
            row["sku.price"] = f"{rnd.randint(399, 14999) / 100:.2f}"
            row["sku.currency"] = "GBP"
            row["sku.quantity"] = str(rnd.randint(0, 500))
            row["sku.seller_sku"] = sku
            row["sku.sales_attribute.Colour"] = COLOURS[(parent + v) % len(COLOURS)]
            row["sku.sales_attribute.Size"] = SIZES[v % len(SIZES)]
            row["sku.gtin"] = f"50{rnd.randint(10**10, 10**11 - 1)}"
            row["sku.image"] = images[v % len(images)]
            row["product_attribute.Material#100157"] = material
            yield row
        made += min(variants, total - made)


@dataclass
class Files:
    csv: Path
    changed_csv: Path  # the same rows, every CHANGED_EVERY-th with a new price and stock
    ndjson: Path
    copy_json: Path  # product_id, parent_id, seq, data (CSV), for the JSONB \copy


def write_files(directory: Path, total: int, variants: int) -> Files:
    files = Files(
        directory / "rows.csv",
        directory / "rows-changed.csv",
        directory / "rows.ndjson",
        directory / "rows-json.csv",
    )
    with (
        files.csv.open("w", newline="", encoding="utf-8") as plain,
        files.changed_csv.open("w", newline="", encoding="utf-8") as changed,
        files.ndjson.open("wb") as nd,
        files.copy_json.open("w", newline="", encoding="utf-8") as cj,
    ):
        writer = csv.writer(plain, lineterminator="\n")
        writer.writerow(COLUMNS)
        cwriter = csv.writer(changed, lineterminator="\n")
        cwriter.writerow(COLUMNS)
        jwriter = csv.writer(cj, lineterminator="\n")
        for seq, row in enumerate(generate_rows(total, variants), start=2):
            assert len(row) == len(COLUMNS)
            writer.writerow(row.values())
            doc = orjson.dumps(row)
            nd.write(doc + b"\n")
            jwriter.writerow((row["product_id"], row["parent_id"], seq, doc.decode()))
            if seq % CHANGED_EVERY == 0:
                row["sku.price"] = f"{float(row['sku.price']) + 1:.2f}"
                row["sku.quantity"] = str(int(row["sku.quantity"]) + 1)
            cwriter.writerow(row.values())
    return files


def changed_rows(total: int) -> int:
    return sum(1 for seq in range(2, total + 2) if seq % CHANGED_EVERY == 0)


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def server_pid(launcher: int, within: float = 30) -> int:
    """The Python process serving catalog-sync: `uv run` itself stays as its parent."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        todo, seen = [launcher], []
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo += _children(pid)
        for pid in seen:
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"python" in os.path.basename(cmd[0]) and any(b"catalog-sync" in c for c in cmd):
                    return pid
        time.sleep(0.1)
    raise RuntimeError("no catalog-sync python process under the launcher")


@contextlib.contextmanager
def service(env: dict[str, str], port: int, log_path: Path) -> Iterator[int]:
    """`uv run --no-sync catalog-sync serve` (applies migrations first); yields its pid."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            ["uv", "run", "--no-sync", "catalog-sync", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"catalog-sync exited with {proc.returncode}; see {log_path}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"catalog-sync not ready; see {log_path}")
                time.sleep(0.2)
            yield server_pid(proc.pid)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


class RssSampler:
    """Samples a process's VmRSS every 0.2 s while a phase runs (the peak of that phase)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.peak_kb = max(self.peak_kb, _proc_status_kb(self.pid, "VmRSS"))
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(UPLOAD_CHUNK):
            yield chunk


def upload(
    http: httpx.Client, feed_id: str, path: Path, fmt: str, pid: int, expect: dict[str, int]
) -> dict[str, Any]:
    """PUT the file as a snapshot, streamed from disk; the report must match `expect`."""
    size = path.stat().st_size
    cpu0 = cpu_seconds(pid)
    client0 = time.process_time()
    with RssSampler(pid) as rss:
        started = time.perf_counter()
        r = http.put(
            f"/v1/feeds/{feed_id}/products",
            params={"format": fmt},
            content=_file_chunks(path),
            headers={"Content-Length": str(size)},
        )
        seconds = time.perf_counter() - started
    if r.status_code != 200:
        raise RuntimeError(f"upload answered {r.status_code}: {r.text[:500]}")
    report = r.json()
    for key, value in expect.items():
        if report[key] != value:
            raise RuntimeError(f"upload report {key}={report[key]}, expected {value}: {report}")
    rows = int(report["rows_read"])
    return {
        "format": fmt,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "mb_per_s": round(size / seconds / 1e6, 1),
        "server_duration_s": report["duration_s"],
        "server_cpu_s": round(cpu_seconds(pid) - cpu0, 2),
        "client_cpu_s": round(time.process_time() - client0, 2),
        "server_peak_rss_mb_during": round(rss.peak_kb / 1024, 1),
        "report": {k: report[k] for k in ("rows_read", "new", "changed", "unchanged", "deleted")}
        | {"refused": report["refused"]},
    }


# --- PostgreSQL's own loader -----------------------------------------------------------

_TEXT_TABLE = "CREATE TABLE copy_text ({})".format(", ".join(f'"{c}" TEXT' for c in COLUMNS))
_JSON_TABLE = (
    "CREATE TABLE copy_jsonb (product_id TEXT PRIMARY KEY, parent_id TEXT NOT NULL,"
    " seq BIGINT NOT NULL, data JSONB NOT NULL);"
    " CREATE INDEX copy_jsonb_parent ON copy_jsonb (parent_id)"
)


def psql(dsn: str, *args: str) -> None:
    subprocess.run(
        [PSQL, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def settle(dsn: str) -> None:
    """What autovacuum would do after a large load, then a checkpoint: the next phase does not
    pay for the previous one's aftermath."""
    psql(dsn, "-c", "VACUUM (ANALYZE) source_products", "-c", "CHECKPOINT")


def copy_load(dsn: str, table: str, ddl: str, path: Path, rows: int) -> dict[str, Any]:
    psql(dsn, "-c", f"DROP TABLE IF EXISTS {table}", "-c", ddl, "-c", "CHECKPOINT")
    started = time.perf_counter()
    header = "true" if table == "copy_text" else "false"
    psql(dsn, "-c", f"\\copy {table} FROM '{path}' WITH (FORMAT csv, HEADER {header})")
    seconds = time.perf_counter() - started
    return {
        "table": table,
        "bytes": path.stat().st_size,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
    }


# --- transform + validate + group ------------------------------------------------------

DATAFLOW: dict[str, Any] = {
    "export": [
        {"attribute": "product_id", "rules": [{"type": "trim"}]},
        {"attribute": "parent_id"},
        {
            "attribute": "product_name",
            "rules": [
                {"type": "trim", "collapse": True},
                {"type": "truncate", "max_length": 255, "suffix": "…"},
            ],
        },
        {
            "attribute": "description",
            "rules": [
                {"type": "strip_html", "allowed_tags": ["p", "br", "ul", "ol", "li", "strong"]},
                {"type": "default_value", "column": "product_name"},
            ],
        },
        {"attribute": "category_id"},
        {"attribute": "category_path"},
        {"attribute": "brand_id"},
        {"attribute": "brand_name", "rules": [{"type": "trim"}]},
        {"attribute": "images", "rules": [{"type": "first_n", "n": 9, "unique": True}]},
        {"attribute": "main_image"},
        {"attribute": "package_weight", "rules": [{"type": "number_format", "decimals": 2}]},
        {"attribute": "package_weight_unit"},
        {"attribute": "package_length", "rules": [{"type": "number_format", "decimals": 0}]},
        {"attribute": "package_width", "rules": [{"type": "number_format", "decimals": 0}]},
        {"attribute": "package_height", "rules": [{"type": "number_format", "decimals": 0}]},
        {"attribute": "package_dimension_unit"},
        {"attribute": "sku.price", "rules": [{"type": "price_format", "decimals": 2}]},
        {"attribute": "sku.currency", "rules": [{"type": "static_value", "value": "GBP"}]},
        {
            "attribute": "sku.quantity",
            "rules": [
                {"type": "number_format", "decimals": 0},
                {"type": "default_value", "value": "0"},
            ],
        },
        {"attribute": "sku.seller_sku", "rules": [{"type": "trim"}]},
        {
            "attribute": "sku.sales_attribute.Colour",
            "rules": [{"type": "case", "mode": "title"}],
        },
        {
            "attribute": "sku.sales_attribute.Size",
            "rules": [{"type": "trim"}, {"type": "default_value", "value": "One Size"}],
        },
        {
            "attribute": "sku.gtin",
            "rules": [{"type": "regex_replace", "pattern": r"\D+", "replacement": ""}],
        },
        {
            "attribute": "sku.gtin_type",
            "source": "sku.gtin",
            "rules": [
                {
                    "type": "condition",
                    "operator": "matches",
                    "operand": r"^\d{13}$",
                    "then": "EAN",
                    "else": "UPC",
                }
            ],
        },
        {"attribute": "sku.image"},
        {"attribute": "product_attribute.Material#100157"},
    ]
}


def _values(first: int, names: tuple[str, ...]) -> tuple[AttributeValue, ...]:
    return tuple(AttributeValue(id=str(first + i), name=n) for i, n in enumerate(names))


def readiness_analyzer() -> ReadinessAnalyzer:
    colour = CategoryAttribute(
        id="100089",
        name="Colour",
        kind="sales",
        customizable=True,
        values=_values(1000100, COLOURS),
    )
    size = CategoryAttribute(id="100000", name="Size", kind="sales", values=_values(1000200, SIZES))
    material = CategoryAttribute(
        id="100157",
        name="Material",
        kind="product",
        required=True,
        customizable=True,
        multi_select=True,
        values=_values(1000123, ("Cotton", "Polyester", "Wool")),
    )
    schemas = {cid: schema_for([colour, size, material], market="UK") for cid, _ in CATEGORIES}
    brands = {
        bid: TaxonomyBrand(id=bid, name=name, authorized_status="AUTHORIZED")
        for bid, name in BRANDS
    }
    return ReadinessAnalyzer(schemas, market="UK", brands=brands)


async def transform_stage(dsn: str, source_id: str, expected: int) -> dict[str, Any]:
    """Stored rows → export rows → readiness per parent → TikTok products; calls timed only."""
    compiled = Dataflow.model_validate(DATAFLOW).compile()
    transform = compiled.transform
    analyzer = readiness_analyzer()
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec(
        "jsonb", encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog", format="text"
    )
    t_transform = t_readiness = t_group = 0.0
    rows = products = issues = 0
    batch: list[dict[str, str]] = []

    def run(batch: list[dict[str, str]]) -> None:
        nonlocal t_transform, t_readiness, t_group, rows, products, issues
        t0 = time.perf_counter()
        exported = [transform(r) for r in batch]
        t1 = time.perf_counter()
        for group in group_by_parent(exported):
            issues += len(analyzer.add(group).issues)
        t2 = time.perf_counter()
        for _parent, _variants in group_variants(exported):
            products += 1
        t3 = time.perf_counter()
        t_transform += t1 - t0
        t_readiness += t2 - t1
        t_group += t3 - t2
        rows += len(batch)

    read_started = time.perf_counter()
    try:
        async with conn.transaction():
            last_parent = None
            async for record in conn.cursor(
                "SELECT parent_id, data FROM source_products WHERE source_id = $1"
                " ORDER BY parent_id, seq, product_id",
                source_id,
                prefetch=5000,
            ):
                # Cut batches at a parent boundary, so no product is split between two.
                if len(batch) >= READ_BATCH and record["parent_id"] != last_parent:
                    run(batch)
                    batch = []
                last_parent = record["parent_id"]
                batch.append(record["data"])
            if batch:
                run(batch)
    finally:
        await conn.close()
    wall = time.perf_counter() - read_started
    if rows != expected:
        raise RuntimeError(f"read back {rows} rows, expected {expected}")
    report = analyzer.report()
    total = t_transform + t_readiness + t_group
    return {
        "rows": rows,
        "products": products,
        "export_attributes": len(DATAFLOW["export"]),
        "readiness_ready_products": report.ready,
        "readiness_issues": issues,
        "transform_s": round(t_transform, 2),
        "readiness_s": round(t_readiness, 2),
        "group_variants_s": round(t_group, 2),
        "transform_variants_per_s": round(rows / t_transform),
        "readiness_variants_per_s": round(rows / t_readiness),
        "group_variants_per_s": round(rows / t_group),
        "all_three_variants_per_s": round(rows / total),
        "wall_with_database_read_s": round(wall, 2),
    }


def parser_memory(path: Path) -> dict[str, Any]:
    """Parse the CSV in this process; the size of the duplicate-id index it ends with."""
    parser = open_parser("csv")
    emitted = 0
    started = time.perf_counter()
    for chunk in _file_chunks(path):
        emitted += len(parser.feed(chunk))
    emitted += len(parser.close())
    seconds = time.perf_counter() - started
    seen: dict[str, int] = parser._checker._seen  # measured, not used
    small = {id(i) for i in range(-5, 257)}
    size = sys.getsizeof(seen) + sum(
        sys.getsizeof(k) + (0 if id(v) in small else sys.getsizeof(v)) for k, v in seen.items()
    )
    return {
        "rows": emitted,
        "parse_seconds": round(seconds, 2),
        "parse_rows_per_s": round(emitted / seconds),
        "duplicate_index_entries": len(seen),
        "duplicate_index_mb": round(size / 2**20, 1),
        "duplicate_index_bytes_per_entry": round(size / max(len(seen), 1)),
    }


# --- the run ---------------------------------------------------------------------------


def machine(load: tuple[float, float, float]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start_1_5_15": [round(x, 2) for x in load],
        "load_average_at_end_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def verdict(value: float, target: float, *, at_most: bool = False) -> dict[str, Any]:
    passed = value <= target if at_most else value >= target
    return {"value": value, "target": target, "ratio": round(value / target, 2), "passed": passed}


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(libpq_dsn(server), timeout=30)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    server = os.environ.get("TTS_DATABASE_URL", DEFAULT_DB)
    bootstrap = os.environ.get("TTS_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)
    formats = [f for f in args.formats.split(",") if f]
    work = Path(tempfile.mkdtemp(prefix="catalog-intake-bench-", dir=args.tmp))
    db_name = new_database_name("bench_intake")
    db_url = database_url(server, db_name)
    dsn = libpq_dsn(db_url)
    result: dict[str, Any] = {
        "benchmark": "catalog-sync intake: streamed snapshot upload -> COPY staging -> merge",
        "timestamp": started_at,
        "rows": args.rows,
        "variants_per_parent": args.variants,
        "columns": len(COLUMNS),
        "server": "uv run --no-sync catalog-sync serve (own process), fresh database, "
        "TTS_LOG_LEVEL=WARNING",
        "server_http_limits_raised": SERVER_LIMITS,
    }
    try:
        t0 = time.perf_counter()
        files = write_files(work, args.rows, args.variants)
        result["generate_s"] = round(time.perf_counter() - t0, 1)
        print(f"generated {args.rows:,} rows in {result['generate_s']} s into {work}", flush=True)
        asyncio.run(_admin(server, f'CREATE DATABASE "{db_name}"'))  # [a-z0-9_] only

        copies = {
            "text_columns": copy_load(dsn, "copy_text", _TEXT_TABLE, files.csv, args.rows),
            "jsonb_like_source_products": copy_load(
                dsn, "copy_jsonb", _JSON_TABLE, files.copy_json, args.rows
            ),
        }
        psql(dsn, "-c", "DROP TABLE copy_text", "-c", "DROP TABLE copy_jsonb")
        result["copy"] = copies
        for name, c in copies.items():
            print(f"\\copy {name}: {c['rows_per_s']:,} rows/s ({c['seconds']} s)", flush=True)

        env = {
            **os.environ,
            "TTS_DATABASE_URL": db_url,
            "TTS_KAFKA_BOOTSTRAP": bootstrap,
            "TTS_LOG_LEVEL": "WARNING",
            **SERVER_LIMITS,
        }
        port = free_port()
        log_path = work / "catalog-sync.log"
        uploads: dict[str, Any] = {}
        with (
            service(env, port, log_path) as pid,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=None) as http,
        ):
            result["server_rss_mb_at_start"] = round(_proc_status_kb(pid, "VmRSS") / 1024, 1)
            feeds: dict[str, dict[str, Any]] = {}
            for fmt in formats:
                r = http.post("/v1/feeds", json={"name": f"bench-{fmt}", "market": "UK"})
                r.raise_for_status()
                feeds[fmt] = r.json()
                path = files.csv if fmt == "csv" else files.ndjson
                settle(dsn)
                first = upload(http, feeds[fmt]["id"], path, fmt, pid, {"new": args.rows})
                print(
                    f"intake {fmt}: {first['rows_per_s']:,} rows/s ({first['seconds']} s)",
                    flush=True,
                )
                settle(dsn)
                again = upload(http, feeds[fmt]["id"], path, fmt, pid, {"unchanged": args.rows})
                print(
                    f"re-upload {fmt}: {again['rows_per_s']:,} rows/s ({again['seconds']} s)",
                    flush=True,
                )
                uploads[fmt] = {"first": first, "unchanged_again": again}
                if fmt == "csv":
                    settle(dsn)
                    n = changed_rows(args.rows)
                    delta = upload(
                        http,
                        feeds[fmt]["id"],
                        files.changed_csv,
                        fmt,
                        pid,
                        {"changed": n, "unchanged": args.rows - n},
                    )
                    print(
                        f"5 % changed {fmt}: {delta['rows_per_s']:,} rows/s ({delta['seconds']} s)",
                        flush=True,
                    )
                    uploads[fmt]["five_percent_changed"] = delta
            result["server_peak_rss_mb"] = round(_proc_status_kb(pid, "VmHWM") / 1024, 1)
        result["uploads"] = uploads
        if any(line.strip() for line in log_path.read_text(errors="replace").splitlines()[-5:]):
            result["server_log_tail"] = log_path.read_text(errors="replace").splitlines()[-5:]

        first_fmt = formats[0]
        result["transform"] = asyncio.run(
            transform_stage(dsn, feeds[first_fmt]["source_id"], args.rows)
        )
        tr = result["transform"]
        print(
            f"transform {tr['transform_variants_per_s']:,} variants/s; with readiness and "
            f"group_variants {tr['all_three_variants_per_s']:,}",
            flush=True,
        )
        result["parser_memory"] = parser_memory(files.csv)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["bench_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )

    main_fmt = "csv" if "csv" in uploads else formats[0]
    primary = uploads[main_fmt]
    copy_rate = result["copy"]["jsonb_like_source_products"]["rows_per_s"]
    text_rate = result["copy"]["text_columns"]["rows_per_s"]
    result["copy_baseline"] = (
        "jsonb_like_source_products: the same rows stored as the intake stores them (JSONB, "
        "a product_id primary key, a parent index), so the ratio measures the intake's own "
        "work (HTTP, parsing, hashing, the merge). text_columns (the CSV into 25 text "
        "columns, no index) is PostgreSQL's floor for reading the file, shown for scale."
    )
    result["ratios"] = {
        "intake_vs_copy_jsonb": round(primary["first"]["rows_per_s"] / copy_rate, 2),
        "intake_vs_copy_text": round(primary["first"]["rows_per_s"] / text_rate, 2),
    }
    tr = result["transform"]
    targets = {
        f"intake_{main_fmt}_rows_per_s": verdict(
            primary["first"]["rows_per_s"], TARGET_INTAKE_ROWS_PER_S
        ),
        "intake_vs_copy_jsonb_ratio": verdict(
            result["ratios"]["intake_vs_copy_jsonb"], TARGET_COPY_RATIO
        ),
        f"reupload_unchanged_{main_fmt}_rows_per_s": verdict(
            primary["unchanged_again"]["rows_per_s"], TARGET_REUPLOAD_ROWS_PER_S
        ),
        "transform_variants_per_s": verdict(
            tr["transform_variants_per_s"], TARGET_TRANSFORM_VARIANTS_PER_S
        ),
        "server_peak_rss_mb": verdict(
            result["server_peak_rss_mb"], TARGET_PEAK_RSS_MB, at_most=True
        ),
        "bench_peak_rss_mb": verdict(result["bench_peak_rss_mb"], TARGET_PEAK_RSS_MB, at_most=True),
    }
    result["targets"] = targets
    # The same targets applied to what the issue does not set them for: not part of the verdict.
    info: dict[str, Any] = {
        "intake_vs_copy_text_ratio": verdict(
            result["ratios"]["intake_vs_copy_text"], TARGET_COPY_RATIO
        ),
        "transform_readiness_group_variants_per_s": verdict(
            tr["all_three_variants_per_s"], TARGET_TRANSFORM_VARIANTS_PER_S
        ),
    }
    if "five_percent_changed" in primary:
        info["five_percent_changed_rows_per_s"] = primary["five_percent_changed"]["rows_per_s"]
    for fmt, u in uploads.items():
        if fmt != main_fmt:
            info[f"intake_{fmt}_rows_per_s"] = verdict(
                u["first"]["rows_per_s"], TARGET_INTAKE_ROWS_PER_S
            )
            info[f"reupload_unchanged_{fmt}_rows_per_s"] = verdict(
                u["unchanged_again"]["rows_per_s"], TARGET_REUPLOAD_ROWS_PER_S
            )
    result["informational"] = info
    result["meets_targets"] = all(t["passed"] for t in targets.values())
    result["machine"] = machine(load)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=int(os.environ.get("TTS_BENCH_ROWS", 1_000_000))
    )
    parser.add_argument("--variants", type=int, default=3, help="variant rows per parent")
    parser.add_argument("--formats", default="csv,ndjson", help="upload formats, in order")
    parser.add_argument("--tmp", default=None, help="where the generated files go")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print(f"written {args.out}")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
