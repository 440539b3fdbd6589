"""`make demo`: the stack is up (stack.sh); show the whole flow working, end to end.

Connect a US and a UK shop, export two catalogues (the generated US one, Shopify's samples for
the UK) with the feed files of examples/, place 50 orders in the sandbox, import them, ship
half of them (some inside TikTok's cancellation hold), advance the sandbox clock and show the
notifications. The steps are in scripts/demo_flow.py and talk to the services over HTTP only;
this file prints them. Running it again is safe: the second export makes no write call.

Environment: TTS_DEMO_US_PARENTS (2000), TTS_DEMO_IMAGES_PORT (8190: the demo's image host,
which the feeds name, so keep it between runs), and the stack's ports that stack.sh reads
(TTS_AUTH_BROKER_PORT, ..., TTS_PROMETHEUS_PORT; docs/getting-started.md).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_flow as flow

# A log file (`make demo > demo.log`) gets lines of 120 columns, not Rich's 80 for non-terminals.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
URLS = flow.Urls.from_env()


def say(text: str) -> None:
    console.print(f"  {text}", markup=False)


def step(title: str) -> None:
    console.print(f"\n[bold cyan]== {title}[/]")


def wait_ready(timeout: float = 120.0) -> bool:
    """Every service answers /readyz (database + Kafka) and the sandbox answers."""
    pending = dict(URLS.services())
    last: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=3.0) as http:
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                try:
                    r = http.get(f"{url}/readyz")
                    last[name] = f"{r.status_code} {r.text[:160]}"
                    if r.status_code == 200:
                        say(f"ready  {name:18} {url}")
                        del pending[name]
                except httpx.HTTPError as exc:
                    last[name] = type(exc).__name__
            if pending:
                time.sleep(1.0)
        try:
            http.get(f"{URLS.sandbox}/sandbox/v1/stats").raise_for_status()
            say(f"ready  {'tiktok-sandbox':18} {URLS.sandbox}")
        except httpx.HTTPError as exc:
            say(f"DOWN   tiktok-sandbox     {URLS.sandbox}  {type(exc).__name__}")
            return False
    for name in pending:
        say(f"NOT READY {name}: {last.get(name)}")
    return not pending


def products_table(result: flow.Result) -> Table:
    table = Table(title="products (the export runs)", title_justify="left")
    for column in ("feed", "created", "updated", "unchanged", "deleted", "not ready / failed"):
        table.add_column(column, justify="right" if column != "feed" else "left")
    for market, run in result.runs.items():
        counts: dict[str, dict[str, int]] = run.get("counts") or {}

        def ok(action: str, c: dict[str, dict[str, int]] = counts) -> int:
            return c.get(action, {}).get("ok", 0)

        bad = sum(
            n
            for action, outcomes in counts.items()
            for outcome, n in outcomes.items()
            if outcome != "ok"
        )
        updated = ok("edit") + ok("price") + ok("inventory") + ok("adopt")
        table.add_row(
            f"{market} ({run['status']})",
            str(ok("create")),
            str(updated),
            str(ok("skip")),
            str(ok("delete")),
            str(bad),
        )
    return table


def summary(result: flow.Result, second_run: bool) -> None:
    step("summary")
    console.print(products_table(result))
    for market, reasons in result.failures.items():
        if reasons:
            console.print(f"  [bold]{market}[/] products not sent, by reason:")
            for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
                say(f"  {n:4}  {reason}")
    writes = sum(result.write_calls.values())
    unchanged = all(
        u["new"] == u["changed"] == u["deleted"] == 0
        for uploads in result.uploads.values()
        for u in uploads
    )
    if writes:
        say(f"product write calls at TikTok during the runs: {result.write_calls}")
    else:
        console.print(
            "  [green]no product write call at TikTok during the runs[/] (the sandbox's"
            " stats): nothing changed since the last run"
        )
    if second_run and unchanged and writes:
        console.print("  [yellow]the catalogues did not change, yet the runs wrote to TikTok[/]")
    placed = sum(len(ids) for ids in result.placed.values())
    imported = sum(result.orders_by_status.values())
    say(
        f"orders imported: {imported} of the {placed} placed, by status: {_counts(result.orders_by_status)}"
    )
    say(f"shipments posted: {len(result.shipment_ids)}")
    say(f"  when posted:              {_counts(result.shipments_first)}")
    say(f"  after the hold ended:     {_counts(result.shipments_final)}")
    # One line per rejection code, with the first one's reason up to its advice (the full
    # reasons, with the providers offered, are above and in the export's feedback file).
    rejected = [s for s in result.shipments if s["status"] == "rejected"]
    for code, n in Counter(str(s.get("code")) for s in rejected).most_common():
        reason = next(str(s.get("reason")) for s in rejected if str(s.get("code")) == code)
        say(f"  {n:4} rejected  {code}: {reason.split(';')[0].split(' of delivery option')[0]}")
    step("where to look")
    for name, url in URLS.services().items():
        say(f"{name:18} API docs {url}/docs   metrics {url}/metrics")
    say(
        f"{'tiktok-sandbox':18} API docs {URLS.sandbox}/docs   stats {URLS.sandbox}/sandbox/v1/stats"
    )
    say(f"{'console':18} {URLS.console}/  (the web console: connections, feeds, runs, orders)")
    if _prometheus_ready():
        say(
            f"{'prometheus':18} {URLS.prometheus}/graph   alerts {URLS.prometheus}/alerts"
            f"   targets {URLS.prometheus}/targets"
        )
        say(
            f"{'dashboards':18} {URLS.prometheus}/graph (Prometheus); Grafana: load deploy/grafana/"
            " into yours (docs/getting-started.md)"
        )
    else:
        say(
            f"{'prometheus':18} not running on {URLS.prometheus} (deploy/local/prometheus.sh installs"
            " Debian's package, then `make up` starts it)"
        )
        say(f"{'dashboards':18} deploy/grafana/ (docs/getting-started.md)")
    say("command line       uv run tts --help   (docs/cli.md), e.g. uv run tts runs list demo-us")
    say("the stack keeps running: `make status`, `make down` stops it")


def main() -> int:
    step("1. every service is ready (database + Kafka) and the sandbox answers")
    if not wait_ready():
        console.print("\nthe stack is not healthy: see `make status` and .local/logs/")
        return 1
    demo = flow.Demo(URLS, say=say)
    plan = flow.Plan(us_parents=int(os.environ.get("TTS_DEMO_US_PARENTS", "2000")))
    result = flow.Result()
    try:
        step("2. connect a US and a UK shop through the sandbox (auth-broker)")
        flow.connect_shops(demo)
        second_run = _feeds_exist(demo)
        step("3. feeds from examples/, uploads, mapping lists, readiness, exports (catalog-sync)")
        port = int(os.environ.get("TTS_DEMO_IMAGES_PORT", "8190"))
        with flow.ImageServer(port) as images, _progress() as (progress, tasks):

            def show(market: str, done: int, total: int) -> None:
                if market not in tasks:
                    tasks[market] = progress.add_task(f"{market} export", total=total or None)
                progress.update(tasks[market], completed=done, total=total or None)

            flow.catalogue(demo, plan, images.url, result, show)
        step("4. orders and shipments (sandbox, order-ingest, shipment-notifier)")
        flow.order_flow(demo, plan, result, lambda text: console.print(f"  [bold]{text}[/]"))
    except (flow.DemoError, httpx.HTTPError) as exc:
        console.print(f"\n[red]demo stopped:[/] {exc}", markup=True)
        console.print("see `make status` and the logs in .local/logs/")
        return 1
    finally:
        demo.close()
    summary(result, second_run)
    console.print("\n[bold green]demo finished[/]")
    return 0


def _counts(counts: dict[str, int]) -> str:
    """{"notified": 16, "rejected": 2} -> "16 notified, 2 rejected" (largest first)."""
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def _prometheus_ready() -> bool:
    try:
        return httpx.get(f"{URLS.prometheus}/-/ready", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def _feeds_exist(demo: flow.Demo) -> bool:
    names = {f["name"] for f in demo.call("GET", f"{URLS.catalog_sync}/v1/feeds")}
    return {"demo-us", "demo-uk"} <= names


class _progress:
    """A Rich progress bar per export run, shown while the runs go."""

    def __enter__(self) -> tuple[Progress, dict[str, TaskID]]:
        self.progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("products"),
            console=console,
        )
        self.progress.start()
        return self.progress, {}

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()


if __name__ == "__main__":
    sys.exit(main())
