"""`tts` as a user runs it, against the real sandbox, auth-broker and catalog-sync over
sockets: connect a UK shop (--wait while the seller approves), apply a feed file, upload
products with the progress bar, readiness, map a list by CSV, a real export run followed to
its end, the feedback file, the feed file back out; and the errors a user meets."""

from __future__ import annotations

import csv
import gzip
import io
import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_testing import CliStack, base_env, run_tts
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tiktok_sandbox.testing import sample_png
from tts_common.testing.server import serving

# Every `tts` call is a process of its own: on a loaded 2-core machine that adds up.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

UK_WAREHOUSE = "7068517275539720101"  # the sandbox UK shop's sales warehouse
UK_CATEGORIES = {"Mugs": "600042", "Candles": "854152"}  # UK v1 leaves
CREATE = "POST /product/202309/products"
SHOPIFY_CSV = """\
Handle,Title,Body (HTML),Vendor,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty,Variant Grams,Image Src,Image Position
mug,Mug,<p>A mug</p>,Acme,Size,Small,mug-s,9.99,5,300,https://img.example/mug.png,1
mug,,,,,Large,mug-l,12.99,3,450,,
candle,Candle,<p>A candle</p>,Acme,Title,Default Title,candle-1,5.00,10,200,https://img.example/candle.png,1
"""


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    picture = sample_png(600, 600)

    async def image(request: Request) -> Response:
        return Response(picture, media_type="image/png")

    async def health(request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(routes=[Route("/img/{name}", image), Route("/healthz", health)])
    with serving(app) as base:
        yield base


def products(images: str, n: int = 4) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        kind = "Mugs" if i % 2 == 0 else "Candles"
        rows.append(
            {
                "product_id": f"cli-{i:03d}",
                "parent_id": f"cli-{i:03d}",
                "product_name": f"CLI sandbox product {i}",
                "description": f"<p>Product {i} uploaded by the tts command line.</p>",
                "category_id": UK_CATEGORIES[kind],
                "product_type": kind,
                "images": f"{images}/img/cli-{i}.png",
                "package_weight": "1.5",
                "package_weight_unit": "KILOGRAM",
                "package_length": "20",
                "package_width": "15",
                "package_height": "10",
                "package_dimension_unit": "CENTIMETER",
                "sku.price": f"{10 + i}.99",
                "sku.currency": "GBP",
                "sku.quantity": "5",
            }
        )
    return rows


def feed_file(name: str, connection_id: str) -> str:
    return f"""\
feed:
  name: {name}
  market: UK
  connection_id: {connection_id}
  active: true
  warehouse_id: "{UK_WAREHOUSE}"
source:
  id: {name}-source
lists:
  - name: types
    taxonomy: tiktok_uk_categories
    attribute: product_type
"""


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(proc).stdout)


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The stdout lines of a running `tts` as they come ("" once it closed), read by a
    thread so the test waits on each line (never on a fixed sleep)."""
    assert proc.stdout is not None
    out: queue.Queue[str] = queue.Queue()

    def pump(stream: Any) -> None:
        for line in stream:
            out.put(line)
        out.put("")

    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    return out


async def connect_waiting(stack: CliStack, name: str) -> str:
    """`tts connections connect NAME --wait`: the seller approves while it waits."""
    proc = stack.popen("connections", "connect", name, "--market", "UK", "--wait",
                       "--interval", "0.2")  # fmt: skip
    try:
        stdout = lines_of(proc)
        lines = [stdout.get(timeout=60)]
        while not lines[-1].startswith("http"):
            lines.append(stdout.get(timeout=60))
            assert lines[-1], f"no authorize URL: {lines}"
        assert proc.poll() is None, "tts stopped before the seller approved"
        await stack.approve(lines[-1].strip(), "UK")
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        rest = []
        while line := stdout.get(timeout=60):
            rest.append(line)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert any(line.startswith("connected:") for line in rest), rest
    return lines[0].split()[1]


async def test_the_catalog_flow_through_tts(
    cli_stack: CliStack, images: str, tmp_path: Path
) -> None:
    stack = cli_stack
    conn_id = await connect_waiting(stack, "cli-uk")
    conns = as_json(stack.tts("connections", "list", "--json"))
    assert [(c["id"], c["status"], c["market"]) for c in conns] == [(conn_id, "active", "UK")]
    assert '"access_token":' not in json.dumps(conns) and 'refresh_token":' not in json.dumps(conns)
    assert conn_id in ok(stack.tts("connections", "list")).stdout

    # A feed file applied twice: created, then unchanged.
    file = tmp_path / "feed.yaml"
    file.write_text(feed_file("cli-uk", conn_id))
    assert "feed cli-uk (" in ok(stack.tts("feeds", "apply", "-f", str(file))).stdout
    again = as_json(stack.tts("feeds", "apply", "-f", str(file), "--json"))
    assert (again["created"], again["changed"]) == (False, False)
    feed = as_json(stack.tts("feeds", "list", "--json"))
    assert [f["name"] for f in feed] == ["cli-uk"]
    feed_id = feed[0]["id"]

    # Products: streamed upload, the intake report; by name and by id.
    rows = products(images)
    data = tmp_path / "products.ndjson"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    report = as_json(stack.tts("products", "upload", "cli-uk", str(data), "--json"))
    assert (report["status"], report["new"], report["refused"]) == ("applied", 4, 0)
    shown = ok(stack.tts("products", "upload", feed_id, str(data)))
    assert "unchanged" in shown.stdout and "uploading" in shown.stderr

    # Readiness needs the categories' schemas in the taxonomy cache (docs/feeds.md).
    for path in ("taxonomies/categories", "taxonomies/brands"):
        r = await stack.outside.get(
            f"{stack.catalog_url}/v1/feeds/{feed_id}/{path}", headers=_auth()
        )
        assert r.status_code == 200, r.text
    for category in UK_CATEGORIES.values():
        r = await stack.outside.get(
            f"{stack.catalog_url}/v1/feeds/{feed_id}/schema",
            params={"category_id": category},
            headers=_auth(),
        )
        assert r.status_code == 200, r.text
    readiness = as_json(stack.tts("readiness", "cli-uk", "--json"))
    assert readiness["products"] == 4
    assert "attributes" in ok(stack.tts("readiness", "cli-uk")).stdout

    # The list: both values unmapped; mapped by a CSV like the download.
    unmapped = as_json(stack.tts("lists", "unmapped", "cli-uk", "--json"))
    assert [(u["name"], sorted(u["unmapped_values"])) for u in unmapped] == [
        ("types", ["Candles", "Mugs"])
    ]
    downloaded = tmp_path / "types.csv"
    ok(stack.tts("lists", "download", "cli-uk", "types", "--unmapped", "-o", str(downloaded)))
    table = list(csv.reader(io.StringIO(downloaded.read_text())))
    header, body = table[0], table[1:]
    assert sorted(r[0] for r in body) == ["Candles", "Mugs"]
    filled = io.StringIO()
    writer = csv.writer(filled)
    writer.writerow(header)
    for value, *_ in body:
        writer.writerow([value, f"{UK_CATEGORIES[value]}|{value}"])
    mapping = tmp_path / "mapped.csv"
    mapping.write_text(filled.getvalue())
    assert as_json(stack.tts("lists", "upload", "cli-uk", "types", str(mapping), "--json")) == {
        "updated": 2
    }
    after = as_json(stack.tts("lists", "unmapped", "cli-uk", "--json"))
    assert after[0]["unmapped_values"] == [] and after[0]["mapped"] == 2

    # A dry run, then the real run followed to its end.
    stack.sandbox.admin("DELETE", "/sandbox/v1/stats")
    dry = as_json(stack.tts("runs", "start", "cli-uk", "--dry-run", "--follow", "--json"))
    assert dry["status"] == "succeeded" and dry["dry_run"] is True
    assert stack.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["calls"].get(CREATE, 0) == 0
    real = ok(stack.tts("runs", "start", "cli-uk", "--follow", "--interval", "0.2"))
    assert "succeeded" in real.stdout and "create" in real.stdout, real.stdout
    assert stack.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["calls"][CREATE] == 4
    runs = as_json(stack.tts("runs", "list", "cli-uk", "--json"))
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["counts"]["create"] == {"ok": 4}

    # The feedback file: one line per product, TikTok's product id.
    fb = tmp_path / "feedback.csv"
    ok(stack.tts("feedback", "cli-uk", "-o", str(fb)))
    lines = list(csv.DictReader(io.StringIO(fb.read_text())))
    assert sorted(line["parent_id"] for line in lines) == [r["parent_id"] for r in rows]
    assert all(line["outcome"] == "ok" and line["tiktok_product_id"] for line in lines), lines
    jsonl = tmp_path / "feedback.jsonl"
    ok(stack.tts("feedback", "cli-uk", "-o", str(jsonl)))
    assert len(jsonl.read_text().splitlines()) == 4

    # The feed file back out applies unchanged.
    exported = tmp_path / "exported.yaml"
    ok(stack.tts("feeds", "export", "cli-uk", "-o", str(exported)))
    assert conn_id in exported.read_text()
    reapplied = as_json(stack.tts("feeds", "apply", "-f", str(exported), "--json"))
    assert reapplied["changed"] is False


def _auth() -> dict[str, str]:
    return {"Authorization": "Bearer dev-api-key"}


async def test_errors_say_what_went_wrong_and_what_to_do(
    cli_stack: CliStack, tmp_path: Path
) -> None:
    stack = cli_stack
    missing = stack.tts("readiness", "no-such-feed")
    assert missing.returncode == 5, missing.stderr
    assert "no feed is named or identified 'no-such-feed'" in missing.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text("feed:\n  name: bad\n  market: FR\n")
    invalid = stack.tts("feeds", "apply", "-f", str(bad))
    assert invalid.returncode == 7, invalid.stderr
    assert "invalid_feed_file" in invalid.stderr
    assert "feed.market (line 3)" in invalid.stderr

    key = "tts_not-a-key-the-service-knows-0123456789"
    wrong = stack.tts("--api-key", key, "feeds", "list")
    assert wrong.returncode == 4, wrong.stderr
    assert "--api-key or TTS_API_KEY" in wrong.stderr
    assert key not in wrong.stdout + wrong.stderr
    wrong_admin = run_tts(["connections", "list"], {**stack.env, "TTS_ADMIN_KEY": key})
    assert wrong_admin.returncode == 4 and key not in wrong_admin.stderr + wrong_admin.stdout

    # No feed has a connection: a real run of an active feed without one is refused.
    file = tmp_path / "feed.yaml"
    file.write_text("feed:\n  name: lonely\n  market: US\n  active: true\n")
    ok(stack.tts("feeds", "apply", "-f", str(file)))
    conflict = stack.tts("runs", "start", "lonely", "--follow")
    assert conflict.returncode == 6, conflict.stderr
    assert "no_connection" in conflict.stderr and "tts connections list" in conflict.stderr

    # A gzip'd Shopify export: the format is said, gzip is detected; 3 variants of 2 handles.
    shopify = tmp_path / "shopify.csv.gz"
    shopify.write_bytes(gzip.compress(SHOPIFY_CSV.encode()))
    refused = stack.tts("products", "upload", "lonely", str(shopify), "--json")
    assert refused.returncode == 7, refused.stderr
    assert "3 of 3 rows refused" in refused.stderr
    plain = json.loads(refused.stdout)
    # A .csv.gz is read as plain CSV, where every row lacks its product_id ...
    assert (plain["format"], plain["refused"], plain["new"]) == ("csv", 3, 0), plain
    assert set(plain["refused_by_reason"]) == {"missing_product_id"}
    report = as_json(
        stack.tts("products", "upload", "lonely", str(shopify), "--format", "shopify", "--json")
    )  # ... and as a Shopify export when said so: its rows become variants
    assert (report["format"], report["rows_read"], report["refused"]) == ("shopify", 3, 0), report
    assert report["new"] == 3, report

    # Nothing listens on the port: not reachable, start it with make up.
    from auth_broker.testing import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    down = run_tts(["feeds", "list"], base_env(TTS_CATALOG_SYNC_URL=closed))
    assert down.returncode == 3
    assert f"catalog-sync is not reachable at {closed}" in down.stderr
    assert "make up" in down.stderr
