"""One fault-suite run: the stack up, the workload streaming, each fault injected in turn
(the first once progress passes 20 %), then the drain, the oracle and the report.

`run(variant)` is what test_faults_smoke.py (one fault of each kind) and test_faults_full.py
(each kind three times, `make faults`) call; docs/reliability.md explains the promises.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue import Catalogue, image_app
from harness import SECRETS, Infra, Stack, wait_until
from tiktok_sandbox.seed import US_SHOP_ID
from tts_common.testing.server import serving
from workload import (
    ALREADY_SHIPPED,
    Oms,
    Workload,
    dlq_records,
    progress,
    psql,
    secrets_in_logs,
    settled,
    shipments,
)

RECOVERY_LIMIT = 60.0  # seconds after the dependency returns (docs/reliability.md)
SHIP_OPS = ["POST /fulfillment/*/packages/*/ship", "POST /fulfillment/*/packages/ship"]
# catalog-sync's writes whose answer may be lost after TikTok did them: creates (found again
# by seller SKU, never sent twice), edits, price and stock updates ("Create Product 202309",
# "Edit Product 202509", "Update Price 202309", "Update Inventory 202309").
CATALOGUE_OPS = [
    "POST /product/*/products",
    "PUT /product/*/products/*",
    "POST /product/*/products/*/prices/update",
    "POST /product/*/products/*/inventory/update",
]
KINDS = (
    "sandbox_5xx",
    "kafka_kill",
    "service_kill_mid_batch",
    "sandbox_429_burst",
    "postgres_immediate",
    "sandbox_timeouts",
    "rebalance_kill",
    "sandbox_resets",
    "token_expiry",
    "sandbox_commit_then_drop",
)


@dataclass
class Variant:
    name: str
    rounds: int  # each kind injected this many times
    kafka_outage: float  # seconds the broker stays down
    sandbox_window: float  # seconds a sandbox fault rule stays on
    batch: int
    pause: float
    min_orders: int
    max_orders: int
    drain_within: float
    report: Path
    products_per_feed: int  # parents per catalogue feed at the start (two feeds)


# The stream goes on until the last fault is over: the maximum is only a bound.
SMOKE = Variant("smoke", 1, 10, 5, 6, 1.0, 60, 2000, 240, Path(), 150)
FULL = Variant("full", 3, 30, 12, 8, 2.0, 300, 8000, 600, Path(), 1000)

# The sandbox's `faults_injected` kind of each rule fault.
SANDBOX_KINDS = {
    "sandbox_5xx": "error",
    "sandbox_timeouts": "timeout",
    "sandbox_resets": "reset",
    "sandbox_commit_then_drop": "drop_response",
}
TOKEN_TTL = 30 * 86400  # sandbox access-token lifetime: batch clock advances never reach it


@dataclass
class Injected:
    kind: str
    round: int
    at: float
    detail: str = ""
    back_at: float = 0.0
    # A killed process: how long its restart took until ready (the dependency's return);
    # recovery is counted from then.
    restart_seconds: float | None = None
    recovery_seconds: float | None = None


@dataclass
class Run:
    variant: Variant
    stack: Stack
    oms: Oms
    workload: Workload
    catalogue: Catalogue
    burst: threading.Event = field(default_factory=threading.Event)
    injected: list[Injected] = field(default_factory=list)
    expiries: int = 0

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.workload.admin("GET", "/sandbox/v1/stats")["data"]
        return data

    def effects(self) -> int:
        """A monotone progress count: OMS effects plus shipments with an outcome."""
        with self.oms.lock:
            pushed = len(self.oms.applied)
        try:
            rows = psql(
                self.stack,
                "shipment_notifier",
                "SELECT count(*) FROM shipments WHERE status IN ('notified','rejected')",
            )
            done = int(rows[0][0])
        except Exception:  # the database may be the fault right now
            done = 0
        return pushed + done

    def catalogue_progress(self) -> float:
        """Share of the first phase's products the sandbox holds (its own count)."""
        held = int(self.stats().get("products_by_shop", {}).get(US_SHOP_ID, 0)) - 1  # the sofa
        return held / max(1, 2 * self.variant.products_per_feed)

    def pending(self) -> bool:
        return not settled(self.workload, self.oms)[0]

    def recovered(self, fault: Injected) -> None:
        """Recovery: every service ready again and, while work is pending, new effects."""
        fault.back_at = time.time()
        before = self.effects()

        def back() -> bool:
            if not self.stack.all_ready():
                return False
            return self.effects() > before or not self.pending()

        try:
            fault.recovery_seconds = wait_until(f"recovery from {fault.kind}", back, 180, 0.5)
        except TimeoutError:
            fault.recovery_seconds = None  # reported as not recovered; the test fails

    # --- the faults --------------------------------------------------------------------

    def sandbox_rule(self, fault: Injected, kind: str, rule: dict[str, Any]) -> None:
        """The rule stays on for the window and until the sandbox has injected it a few
        times (a quiet moment of the workload must not make the fault a no-op)."""
        counted = SANDBOX_KINDS[kind]

        def injected() -> int:
            return int(self.stats().get("faults_injected", {}).get(counted, 0))

        before = injected()
        self.workload.admin("POST", "/sandbox/v1/faults", rule)
        start = time.monotonic()
        try:
            wait_until(f"{kind} injected", lambda: injected() >= before + 3, 90, 0.5)
        finally:
            rest = self.variant.sandbox_window - (time.monotonic() - start)
            if rest > 0:
                time.sleep(rest)  # the fault's duration, not a correctness wait
            self.workload.admin("DELETE", "/sandbox/v1/faults")
        fault.detail = f"{json.dumps(rule)}: {injected() - before} injected"

    def kill_mid_batch(self, target: str) -> str:
        """SIGKILL `target` once its database shows work in flight, and start it again."""
        table, busy = {
            "shipment-notifier": ("shipments", "('sending','queued','reconcile')"),
            "order-ingest": ("deliveries", "('pending')"),
            "catalog-sync": ("runs", "('running')"),  # a feed run with products in flight
        }[target]
        db = target.replace("-", "_")

        def mid_batch() -> bool:
            sql = f"SELECT count(*) FROM {table} WHERE status IN {busy}"
            return int(psql(self.stack, db, sql)[0][0]) > 0

        try:
            wait_until("work in flight", mid_batch, 30, 0.05)
            detail = f"SIGKILL {target} with work in flight"
        except TimeoutError:
            detail = f"SIGKILL {target} (no work in flight within 30s)"
        self.stack.procs[target].kill()
        self.stack.procs[target].start()
        return detail

    def inject(self, kind: str, round_: int) -> Injected:
        fault = Injected(kind, round_, time.time())
        infra, procs = self.stack.infra, self.stack.procs
        if kind == "kafka_kill":
            infra.kafka_kill()
            time.sleep(self.variant.kafka_outage)  # the outage itself
            infra.kafka_start()
            fault.detail = f"SIGKILL, {self.variant.kafka_outage:.0f}s down"
        elif kind == "postgres_immediate":
            infra.pg_stop_immediate()
            time.sleep(5)  # the outage itself
            infra.pg_start()
            fault.detail = "pg_ctl stop -m immediate, 5s down"
        elif kind == "service_kill_mid_batch":
            # catalog-sync is killed beside shipment-notifier (rounds 1 and 3) with a feed run
            # in flight; order-ingest alone in round 2.
            targets = (
                ("shipment-notifier", "catalog-sync"),
                ("order-ingest",),
                ("catalog-sync", "shipment-notifier"),
            )[round_ % 3]
            details, restarts = [], []
            for target in targets:
                details.append(self.kill_mid_batch(target))
                restarts.append(procs[target].wait_ready())
            fault.restart_seconds = max(restarts)
            fault.detail = "; ".join(details)
        elif kind == "rebalance_kill":
            # A second member joins the group; the first is killed while the group rebalances.
            second = self.stack.add("order-ingest#2")
            wait_until("second member up", lambda: second.alive(), 10)
            procs["order-ingest"].kill()
            procs["order-ingest"].start()
            fault.restart_seconds = procs["order-ingest"].wait_ready()
            second.wait_ready()
            second.stop()  # leaves the group: a second rebalance
            del procs["order-ingest#2"]
            fault.detail = "order-ingest member SIGKILLed as a second joined; the second left"
        elif kind == "sandbox_5xx":
            self.sandbox_rule(fault, kind, {"error_rate": 0.1})
        elif kind == "sandbox_timeouts":
            self.sandbox_rule(fault, kind, {"timeout_rate": 0.1, "timeout_seconds": 5})
        elif kind == "sandbox_resets":
            self.sandbox_rule(fault, kind, {"reset_rate": 0.1})
        elif kind == "sandbox_commit_then_drop":
            ops = SHIP_OPS + CATALOGUE_OPS
            self.sandbox_rule(fault, kind, {"drop_response_rate": 0.3, "operations": ops})
        elif kind == "sandbox_429_burst":
            before = sum(self.stats().get("rate_limited", {}).values())
            self.burst.set()  # the next batch is five times the size, at once
            wait_until("burst placed", lambda: not self.burst.is_set(), 120)
            time.sleep(self.variant.sandbox_window)  # the burst's calls go out meanwhile
            after = sum(self.stats().get("rate_limited", {}).values())
            fault.detail = f"burst of {self.variant.batch * 5} orders; {after - before} calls 429"
        elif kind == "token_expiry":
            # Past the access token's lifetime on TikTok's clock: every lease is refused as
            # expired; the two brokers must refresh it once (auth-broker.md).
            with self.workload.clock:  # not inside a batch's hold (its cancellations)
                self.workload.admin(
                    "POST", "/sandbox/v1/clock", {"advance_seconds": TOKEN_TTL + 60}
                )
            self.expiries += 1
            fault.detail = "sandbox clock past the access-token lifetime"
        else:
            raise ValueError(kind)
        self.recovered(fault)
        self.injected.append(fault)
        say(f"{kind} #{round_}: {fault.detail}; recovery {fault.recovery_seconds}")
        return fault


def say(line: str) -> None:
    """Progress on stderr (shown with `pytest -s`, as `make faults` runs it)."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def run(variant: Variant, root: Path) -> dict[str, Any]:
    infra = Infra(root / "infra")
    oms = Oms()
    started = time.time()
    infra.up()
    stack = Stack(infra, root / "logs", token_ttl=TOKEN_TTL, sandbox_qps=10)
    service_env = {
        "order-ingest": {
            "TTS_PUSH_BACKOFF_BASE_SECONDS": "0.2",
            "TTS_PUSH_BACKOFF_CAP_SECONDS": "2",
            "TTS_PUSH_LEASE_SECONDS": "5",
            "TTS_PUSH_TIMEOUT_SECONDS": "10",
            "TTS_PUSH_MAX_ATTEMPTS": "1000",
            "TTS_WORKER_IDLE_SECONDS": "0.2",
            "TTS_RUN_STALE_SECONDS": "10",
        },
        "shipment-notifier": {
            "TTS_CLAIM_STALE_SECONDS": "3",
            "TTS_RETRY_BASE_SECONDS": "0.2",
            "TTS_RETRY_CAP_SECONDS": "3",
            "TTS_MAX_ATTEMPTS": "1000",
            "TTS_HOLD_RECHECK_SECONDS": "2",
        },
        "catalog-sync": {
            # The client's pace per shop and operation = the sandbox's limit (docs/feeds.md);
            # a run of a killed process is taken over after 10 s without a heartbeat.
            "TTS_TIKTOK_QPS": "10",
            "TTS_RUN_STALE_SECONDS": "10",
        },
    }
    wl: Workload | None = None
    cat: Catalogue | None = None
    try:
        stack.start(service_env)
        with serving(oms.app()) as oms_base, serving(image_app()) as images:
            wl = Workload(stack, oms_base + "/oms/orders", variant.batch, variant.pause)
            wl.seed_product()
            wl.connect()
            wl.configure()
            cat = Catalogue(stack, images, variant.products_per_feed, wl.run_tag)
            cat.setup(wl.connection_id)
            say(f"stack up and configured after {time.time() - started:.0f}s")
            r = Run(variant, stack, oms, wl, cat)
            planned = variant.min_orders
            stream = threading.Thread(
                target=wl.run, args=(variant.min_orders, variant.max_orders, r.burst), daemon=True
            )
            changes, faults_over = threading.Event(), threading.Event()
            catalogue = threading.Thread(target=cat.run, args=(changes, faults_over), daemon=True)
            stream.start()
            catalogue.start()
            # The first fault once progress passes 20 %: of the orders and of the creates.
            wait_until(
                "20% progress",
                lambda: (
                    (progress(wl, oms, planned) >= 0.2 and r.catalogue_progress() >= 0.2)
                    or bool(wl.errors or cat.errors)
                ),
                300,
            )
            schedule = [(k, n) for n in range(variant.rounds) for k in KINDS]
            for i, (kind, n) in enumerate(schedule):
                if i >= len(schedule) * 0.2:  # the catalogue's change set, under the faults
                    changes.set()
                try:
                    r.inject(kind, n)
                except TimeoutError as exc:  # reported (no recovery): the test fails on it
                    r.injected.append(Injected(kind, n, time.time(), f"not injected: {exc}"))
                    say(f"{kind} #{n}: {exc}")
            changes.set()
            faults_over.set()
            wl.stop.set()
            stream.join(300)
            faults_done = time.time()
            say(f"faults done; catalogue phases: {[p.name for p in cat.phases]}")
            drain_error = ""
            try:
                # The catalogue's phases end (each waits for its changes at the sandbox), then
                # explicit runs finish what the faults left failed.
                wait_until("catalogue phases", cat.done.is_set, variant.drain_within, 1.0)
                drain = wait_until(
                    "every intended effect",
                    lambda: settled(wl, oms)[0],
                    variant.drain_within,
                    1.0,
                )
                cat.converge(variant.drain_within)
                # The last run's product.synced events leave through catalog-sync's outbox.
                wait_until("catalog-sync outbox relayed", lambda: not outbox_rows(stack), 60, 0.5)
                drain = time.time() - faults_done
            except TimeoutError as exc:
                drain, drain_error = None, str(exc)
            report = oracle(r, started, faults_done, drain, drain_error)
    finally:
        if wl is not None:
            wl.http.close()
        if cat is not None:
            cat.http.close()
        stack.stop()
        infra.down()
    report["logs"] = str(root / "logs")
    return report


def outbox_rows(stack: Stack, only_left: bool = True) -> dict[str, int]:
    """Rows still in each service database's outbox (all of them with `only_left=False`)."""
    counts = {
        db: int(psql(stack, db, "SELECT count(*) FROM outbox")[0][0])
        for db in ("auth_broker", "order_ingest", "shipment_notifier", "catalog_sync")
    }
    return {db: n for db, n in counts.items() if n or not only_left}


def oracle(
    r: Run, started: float, faults_done: float, drain: float | None, drain_error: str
) -> dict[str, Any]:
    wl, oms, stack = r.workload, r.oms, r.stack
    done, counts = settled(wl, oms)
    stats = r.stats()
    ship = shipments(stack)
    # Duplicates: one change pushed under two keys; a shipment row twice; a second ship call
    # refused as "already shipped"; a seller SKU live twice.
    with oms.lock:
        pushed_twice = sum(1 for n in oms.effects.values() if n > 1)
        per_change: dict[tuple[str, str, str, str], int] = {}
        for body in oms.applied.values():
            d = body["data"]
            change = (d["order_id"], str(d["update_time"]), d["status"], body["type"])
            per_change[change] = per_change.get(change, 0) + 1
        bad_signatures = oms.bad_signatures
    same_change_two_keys = sum(1 for n in per_change.values() if n > 1)
    duplicate_shipments = sum(
        1
        for rows in ship.values()
        for t in {x[0] for x in rows}
        if [x[0] for x in rows].count(t) > 1
    )
    second_ship = int(stats.get("errors_by_code", {}).get(ALREADY_SHIPPED, 0))
    duplicate_skus = stats.get("duplicate_seller_skus", {}).get("live", {})
    wrong_tracking = []
    for plan in wl.snapshot():
        if plan.tracking and not plan.cancelled:
            order = wl.admin("GET", f"/sandbox/v1/orders/{plan.order_id}")["data"]["order"]
            if order.get("tracking_number") != plan.tracking:
                wrong_tracking.append(plan.order_id)
    # Final state: what the OMS last received == what TikTok (the sandbox) shows now.
    with oms.lock:
        latest = dict(oms.latest)
    stored = {
        oid: (status, ut)
        for oid, status, ut in psql(
            stack, "order_ingest", "SELECT id, status, update_time FROM orders"
        )
    }
    mismatches = []
    for plan in wl.snapshot():
        order = wl.admin("GET", f"/sandbox/v1/orders/{plan.order_id}")["data"]["order"]
        if latest.get(plan.order_id, (0, ""))[1] != order["status"]:
            mismatches.append(
                {
                    "order_id": plan.order_id,
                    "cancelled": plan.cancelled,
                    "sandbox": [order["status"], order.get("update_time")],
                    "oms": latest.get(plan.order_id),
                    "order_ingest": stored.get(plan.order_id),
                }
            )
    products = r.catalogue.observe()
    feedback = r.catalogue.feedback()
    undelivered = psql(
        stack, "order_ingest", "SELECT status, count(*) FROM deliveries GROUP BY status"
    )
    inbox_dupes = {
        db: int(
            psql(
                stack,
                db,
                "SELECT count(*) FROM (SELECT consumer_group, event_id FROM inbox "
                "GROUP BY 1, 2 HAVING count(*) > 1) d",
            )[0][0]
        )
        for db in ("order_ingest", "shipment_notifier")
    }
    report: dict[str, Any] = {
        "variant": r.variant.name,
        "started_at": started,
        "faults": [f.__dict__ for f in r.injected],
        "intended_vs_observed": counts
        | {
            "products_intended_live": products["products_intended_live"],
            "products_live_as_intended": products["products_live_as_intended"],
            "products_intended_deleted": products["products_intended_deleted"],
            "products_deleted_gone": products["products_deleted_gone"],
        },
        "all_effects_observed": done and products["settled"],
        "catalogue": {
            "feeds": {f.name: f.id for f in r.catalogue.feeds},
            "phases": [p.__dict__ for p in r.catalogue.phases],
            "sandbox": products,
            "feedback": feedback,
            "runs_posted": r.catalogue.runs_posted,
            "pauses": r.catalogue.pauses,
        },
        "duplicates": {
            "oms_change_applied_twice": pushed_twice,
            "oms_change_under_two_keys": same_change_two_keys,
            "shipment_rows_twice": duplicate_shipments,
            "second_ship_call_refused": second_ship,
            "duplicate_seller_skus_live": len(duplicate_skus),
            "catalogue_seller_skus_listed_twice": products["duplicate_seller_skus_count"],
            "inbox_duplicates": sum(inbox_dupes.values()),
        },
        "wrong_tracking_numbers": wrong_tracking[:20],
        "oms_final_state_not_tiktoks": len(mismatches),
        "final_state_mismatches": mismatches[:20],
        "oms_bad_signatures": bad_signatures,
        "outbox_rows_left": outbox_rows(stack, only_left=False),
        "deliveries_by_status": {s: int(n) for s, n in undelivered},
        "token_refreshes": stats.get("token_refreshes"),
        "token_expiries_injected": r.expiries,
        "dlq_records": dlq_records(stack),
        "secrets_in_logs": secrets_in_logs(stack, SECRETS),
        "faults_injected_by_sandbox": stats.get("faults_injected", {}),
        "rate_limited": sum(stats.get("rate_limited", {}).values()),
        "time_to_drain_seconds": drain,
        "drain_error": drain_error,
        "workload_errors": wl.errors + r.catalogue.errors,
        "total_seconds": time.time() - started,
        "faults_finished_after_seconds": faults_done - started,
    }
    return report


def table(report: dict[str, Any]) -> str:
    lines = [f"fault suite ({report['variant']}): {len(report['faults'])} faults"]
    lines.append(f"{'fault':28} {'round':>5} {'at (s)':>8} {'recovery (s)':>13}  detail")
    t0 = report["started_at"]
    for f in report["faults"]:
        rec = "NONE" if f["recovery_seconds"] is None else f"{f['recovery_seconds']:.1f}"
        lines.append(
            f"{f['kind']:28} {f['round']:>5} {f['at'] - t0:>8.1f} {rec:>13}  {f['detail'][:60]}"
        )
    lines.append("effects (intended vs observed): " + json.dumps(report["intended_vs_observed"]))
    cat = report["catalogue"]
    sandbox = cat["sandbox"]
    lines.append(
        f"products: {sandbox['products_live_as_intended']}/{sandbox['products_intended_live']} "
        f"live as intended, {sandbox['products_deleted_gone']}/"
        f"{sandbox['products_intended_deleted']} deleted gone, "
        f"{sandbox['duplicate_seller_skus_count']} seller SKUs twice; feedback "
        f"{json.dumps(cat['feedback']['outcomes'])}; phases "
        + ", ".join(
            f"{p['name']} {'-' if p['settled_after'] is None else round(p['settled_after'])}s"
            for p in cat["phases"]
        )
    )
    lines.append("duplicates: " + json.dumps(report["duplicates"]))
    lines.append(
        f"time to drain: {report['time_to_drain_seconds']}; token refreshes "
        f"{report['token_refreshes']} for {report['token_expiries_injected']} expiries"
    )
    return "\n".join(lines)


def problems(report: dict[str, Any]) -> list[str]:
    """Everything the run promised and did not keep (empty: the run passed)."""
    out: list[str] = []
    if report["workload_errors"]:
        out.append(f"workload errors: {report['workload_errors']}")
    if not report["all_effects_observed"]:
        out.append(f"effects lost: {report['intended_vs_observed']} {report['drain_error']}")
    out += [f"duplicate: {k}={v}" for k, v in report["duplicates"].items() if v]
    cat = report["catalogue"]
    sandbox, feedback = cat["sandbox"], cat["feedback"]
    if not sandbox["settled"]:
        shown = ("missing", "not_in_final_state", "deleted_still_listed", "unexpected_seller_skus")
        detail = json.dumps({k: sandbox[k] for k in shown})
        out.append(f"catalogue not in its final state at TikTok: {detail}")
    if feedback["unaccounted_count"] or feedback["failed_without_reason"]:
        out.append(f"catalog-sync feedback does not account for every product: {feedback}")
    if [p["name"] for p in cat["phases"]][:3] != ["creates", "change set", "wave 1"]:
        out.append(f"catalogue phases run: {[p['name'] for p in cat['phases']]}")
    if report["wrong_tracking_numbers"]:
        out.append(f"wrong tracking numbers: {report['wrong_tracking_numbers']}")
    if report["oms_final_state_not_tiktoks"]:
        out.append(f"OMS final state differs from TikTok's: {report['final_state_mismatches']}")
    if report["oms_bad_signatures"]:
        out.append("OMS saw bad signatures")
    out += [f"outbox not empty: {db}={n}" for db, n in report["outbox_rows_left"].items() if n]
    left = {s: n for s, n in report["deliveries_by_status"].items() if s != "delivered"}
    if left:
        out.append(f"deliveries not delivered: {left}")
    for f in report["faults"]:
        if f["recovery_seconds"] is None or f["recovery_seconds"] > RECOVERY_LIMIT:
            out.append(f"recovery of {f['kind']} #{f['round']}: {f['recovery_seconds']}")
    if report["token_refreshes"] != report["token_expiries_injected"]:
        out.append(
            f"token refreshes {report['token_refreshes']} != expiries "
            f"{report['token_expiries_injected']}"
        )
    # Every fault really happened: the sandbox counted each rule's kind, the burst met 429s.
    kinds = {f["kind"] for f in report["faults"]}
    injected = report["faults_injected_by_sandbox"]
    for kind, counted in SANDBOX_KINDS.items():
        if kind in kinds and not injected.get(counted):
            out.append(f"{kind} was never injected by the sandbox: {injected}")
    if "sandbox_429_burst" in kinds and not report["rate_limited"]:
        out.append("the 429 burst met no 429")
    dlq = {t: n for t, n in report["dlq_records"].items() if n}
    if dlq:
        out.append(f"DLQ records: {dlq}")
    if report["secrets_in_logs"]:
        out.append(f"secrets in logs: {report['secrets_in_logs']}")
    return out


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


Check = Callable[[], bool]
