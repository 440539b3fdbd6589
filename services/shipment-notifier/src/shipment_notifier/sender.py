"""The sender: a worker that takes due shipments, checks them and calls TikTok once each.

A pass claims due shipments (`queued`, or `deferred` whose hold should have ended) with one
`UPDATE … FOR UPDATE SKIP LOCKED` that marks them `sending` and commits, so any number of
senders (processes) share the work and a shipment is in one sender's hands at a time; a
claim whose sender died (not renewed for `claim_stale_seconds`) is taken over — and since
that sender may have called TikTok before dying, the taker reconciles first. At most
`send_concurrency` shipments are in flight; one order's shipments never are at once.

Per shipment (docs/shipments.md, "Sending"):

1. the order: known from the order events, or read from TikTok ("Get Order Detail 202507")
   through the connection of the shipment's export (or of each active export); read again
   when the shipment was deferred or the order is still in its hold;
2. the checks (`checks.py`), then the carrier (`carriers.py`, "Get Shipping Providers 202309"
   for the order's delivery option, cached), then the hold: an order still UNPAID/ON_HOLD
   defers the shipment to the end of the hold (`shipment.deferred`);
3. reconcile when the last write's outcome is unknown: "Get Package Detail 202309" — the
   package already carries our tracking number → notified without another call;
4. the call: "Ship Package 202309" (`self_shipment`) for the order's one package — several
   ready at once for one shop go out as one "Batch Ship Packages 202309" (`batching.py`) —
   or "Update Shipping Info 202309" when the order was shipped already with another
   tracking number.
   A lost answer or a 5xx (`OutcomeUnknownError`) is retried only after a reconcile; other
   transient failures are retried with capped backoff; a refusal is read back once (the
   package may carry our tracking number already) and else rejects with TikTok's code.

Each outcome commits in its own transaction (the worker pass is the entrypoint).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tiktok_shop import (
    AuthorizationExpiredError,
    OutcomeUnknownError,
    TikTokError,
    TokenInvalidError,
)
from tts_common.app import Runtime
from tts_common.db import session_scope

from shipment_notifier import orders, outcomes
from shipment_notifier.batching import PackageRefused, ShipBatcher
from shipment_notifier.carriers import CarrierRule, Provider, resolve
from shipment_notifier.checks import check
from shipment_notifier.config import Settings
from shipment_notifier.models import KnownOrder, Shipment, ShipmentExport
from shipment_notifier.tiktok import EXTRA, TikTok

log = logging.getLogger(__name__)

_CLAIM = text(
    "UPDATE shipments s SET status = 'sending', claimed_at = now(), attempts = s.attempts + 1,"
    " reconcile = s.reconcile OR s.status = 'sending', updated_at = now()"
    " WHERE s.id IN (SELECT c.id FROM shipments c"
    "  WHERE ((c.status IN ('queued', 'deferred') AND c.due_at <= now())"
    "   OR (c.status = 'sending' AND c.claimed_at < now() - make_interval(secs => :stale)))"
    "  AND NOT (c.id = ANY(CAST(:mine AS uuid[])))"
    "  AND NOT EXISTS (SELECT 1 FROM shipments o WHERE o.order_id = c.order_id"
    "   AND o.id <> c.id AND o.status = 'sending'"
    "   AND o.claimed_at >= now() - make_interval(secs => :stale))"
    "  ORDER BY c.due_at LIMIT :n FOR UPDATE SKIP LOCKED)"
    " RETURNING s.id"
)
_RENEW = text(
    "UPDATE shipments SET claimed_at = now()"
    " WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'sending'"
)
_PREVIOUS = text(
    "SELECT DISTINCT ON (order_id) order_id, tracking_number FROM shipments"
    " WHERE order_id = ANY(:orders) AND status = 'notified'"
    " ORDER BY order_id, notified_at DESC"
)


class _Retry(Exception):
    """Try again later (`reconcile`: the last write's outcome is unknown)."""

    def __init__(self, why: str, *, reconcile: bool = False, code: str = "retry") -> None:
        super().__init__(why)
        self.why, self.reconcile, self.code = why, reconcile, code


class _Reject(Exception):
    def __init__(self, code: str, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.request_id = code, reason, request_id


@dataclass
class _Work:
    """A claimed shipment and what its pass loaded for it (one query each, for the batch)."""

    shipment: Shipment
    order: KnownOrder | None
    previous: str | None  # the tracking number notified before for the order, if any
    exports: dict[str, ShipmentExport]  # active exports by connection id

    def feedback(self) -> bool | None:
        export = self.exports.get(self.shipment.connection_id or "")
        return export.feedback_enabled if export is not None else None


class Providers:
    """TikTok's shipping providers per (connection, delivery option), cached for a while."""

    def __init__(self, tiktok: TikTok, ttl: float) -> None:
        self._tiktok, self._ttl = tiktok, ttl
        self._cache: dict[tuple[str, str], tuple[float, asyncio.Future[list[Provider]]]] = {}

    async def get(self, connection_id: str, delivery_option_id: str) -> list[Provider]:
        key = (connection_id, delivery_option_id)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return await asyncio.shield(hit[1])
        future: asyncio.Future[list[Provider]] = asyncio.get_running_loop().create_future()
        self._cache[key] = (now + self._ttl, future)
        try:
            found = await self._tiktok.shop(connection_id).logistics.get_shipping_providers(
                delivery_option_id
            )
        except BaseException as exc:
            self._cache.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        providers = [Provider(str(p.id), p.name) for p in found.shipping_providers]
        future.set_result(providers)
        return providers


class Sender:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], tiktok: TikTok, settings: Settings
    ) -> None:
        self.sessions, self.tiktok, self.settings = sessions, tiktok, settings
        self.providers = Providers(tiktok, settings.providers_ttl_seconds)
        self.batcher = ShipBatcher(tiktok, settings.ship_batch_window_seconds)
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()

    # --- the loop ------------------------------------------------------------------------

    async def claim(self, n: int) -> list[str]:
        async with session_scope(self.sessions) as session:
            rows = await session.execute(
                _CLAIM,
                {"stale": self.settings.claim_stale_seconds, "n": n, "mine": list(self.inflight)},
            )
            return [str(r[0]) for r in rows]

    async def load(self, ids: list[str]) -> list[_Work]:
        async with self.sessions() as session:
            found = list(await session.scalars(select(Shipment).where(Shipment.id.in_(ids))))
            order_ids = sorted({s.order_id for s in found})
            known = {
                o.order_id: o
                for o in await session.scalars(
                    select(KnownOrder).where(KnownOrder.order_id.in_(order_ids))
                )
            }
            previous = {
                str(r[0]): str(r[1])
                for r in await session.execute(_PREVIOUS, {"orders": order_ids})
            }
            active = {
                str(e.connection_id): e
                for e in await session.scalars(
                    select(ShipmentExport).where(ShipmentExport.active.is_(True))
                )
                if e.connection_id
            }
        return [
            _Work(s, known.get(s.order_id), previous.get(s.order_id), active)
            for s in found
            if s.status == "sending"
        ]

    async def run(self) -> None:
        renew_every = self.settings.claim_stale_seconds / 3
        renewed = time.monotonic()
        refill = max(1, self.settings.send_concurrency // 4)
        while not self._stop.is_set():
            free = self.settings.send_concurrency - len(self.inflight)
            claimed: list[str] = []
            try:
                # Refill in chunks, not one claim (and load) per finished shipment.
                if free >= refill or (free > 0 and not self.inflight):
                    claimed = await self.claim(free)
                if self.inflight and time.monotonic() - renewed > renew_every:
                    async with session_scope(self.sessions) as session:
                        await session.execute(_RENEW, {"ids": list(self.inflight)})
                    renewed = time.monotonic()
            except Exception:
                log.exception("shipment sender: claiming failed; trying again")
                await asyncio.sleep(1.0)
                continue
            try:
                work = await self.load(claimed) if claimed else []
            except Exception:
                log.exception("shipment sender: loading claimed shipments failed")
                work = []  # their claims go stale and are taken over (and reconciled)
            for item in work:
                task = asyncio.create_task(self.process(item))
                self.inflight[item.shipment.id] = task
                task.add_done_callback(self._forget)
            if not claimed or len(claimed) < free:
                await asyncio.sleep(self.settings.send_poll_seconds)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for key, value in list(self.inflight.items()):
            if value is task:
                del self.inflight[key]

    async def drain(self) -> None:
        if self.inflight:
            await asyncio.gather(*self.inflight.values(), return_exceptions=True)

    # --- one shipment --------------------------------------------------------------------

    async def process(self, work: _Work) -> None:
        shipment = work.shipment
        try:
            await self._send(work)
        except _Reject as rej:
            await self._finish(
                outcomes.reject,
                shipment,
                code=rej.code,
                reason=rej.reason,
                request_id=rej.request_id,
                feedback=work.feedback(),
            )
        except _Retry as retry:
            await self._retry(shipment, retry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("shipment sender: unexpected failure", extra={"shipment_id": shipment.id})
            await self._retry(shipment, _Retry(f"unexpected {type(exc).__name__}", reconcile=True))

    async def _finish(self, fn: Any, shipment: Shipment, **kw: Any) -> None:
        async with session_scope(self.sessions) as session:
            current = await session.get(Shipment, shipment.id, with_for_update=True)
            if current is None or current.status in outcomes.FINAL:
                return
            if shipment.export_id is not None:
                current.export_id = shipment.export_id
                current.connection_id = shipment.connection_id
            await fn(session, current, **kw)

    async def _retry(self, shipment: Shipment, retry: _Retry) -> None:
        s = self.settings
        if shipment.attempts >= s.max_attempts:
            await self._finish(
                outcomes.reject,
                shipment,
                code="gave_up",
                reason=f"not sent after {shipment.attempts} attempts; last: {retry.why}",
            )
            return
        delay = min(s.retry_cap_seconds, s.retry_base_seconds * 2 ** (shipment.attempts - 1))
        delay *= random.uniform(0.5, 1.0)
        async with session_scope(self.sessions) as session:
            current = await session.get(Shipment, shipment.id, with_for_update=True)
            if current is None or current.status != "sending":
                return
            current.status = "deferred" if current.deferred_until else "queued"
            current.due_at = datetime.now(UTC) + timedelta(seconds=delay)
            current.reconcile = current.reconcile or retry.reconcile
            current.reason, current.code, current.claimed_at = retry.why, retry.code, None

    async def _order(self, work: _Work) -> KnownOrder:
        shipment, order = work.shipment, work.order
        # A deferred shipment woken by an `order.updated` past the hold has a stored order
        # that already shows TikTok's new status: it is not read again. One that came due by
        # its timer still shows UNPAID/ON_HOLD here, and that is what sends it to TikTok.
        fresh = order is None or order.status in orders.HOLD_STATUSES or shipment.reconcile
        if not fresh and order is not None:
            return order
        if order is not None and order.connection_id not in work.exports:
            # No active export of ours has this connection (on a long-lived Kafka: orders of
            # shops connected elsewhere): `_send` rejects it as no_export; asking TikTok first
            # would only lease a token the broker cannot give, and retry.
            return order
        if order is not None:
            candidates = [order.connection_id]
        else:
            by_export = [c for c, e in work.exports.items() if e.id == shipment.export_id]
            candidates = by_export or list(work.exports)
        for connection_id in candidates:
            found = await self._fetch(connection_id, shipment.order_id)
            if found is not None:
                shop_id = order.shop_id if order is not None else ""
                async with session_scope(self.sessions) as session:
                    await orders.store(
                        session,
                        connection_id=connection_id,
                        shop_id=shop_id,
                        **orders.fields_of(found),
                    )
                async with self.sessions() as session:
                    refreshed = await session.get(KnownOrder, shipment.order_id)
                assert refreshed is not None
                return refreshed
        if order is not None:
            return order
        raise _Reject(
            "order_unknown",
            f"order {shipment.order_id} is unknown: no order event named it and TikTok has no "
            "such order in the shops of the active shipment exports",
        )

    async def _fetch(self, connection_id: str, order_id: str) -> dict[str, Any] | None:
        try:
            details = await self.tiktok.shop(connection_id).orders.get_order_detail([order_id])
        except TikTokError as exc:
            self._token_trouble(exc, connection_id)
            raise _Retry(
                f"reading order {order_id} failed: {exc}", code="tiktok_unavailable"
            ) from None
        for o in details.orders:
            if o.id == order_id:
                return o.model_dump(mode="json", exclude_none=True)
        return None

    def _token_trouble(self, exc: TikTokError, connection_id: str) -> None:
        if isinstance(exc, AuthorizationExpiredError | TokenInvalidError):
            self.tiktok.tokens.invalidate(connection_id)

    async def _send(self, work: _Work) -> None:
        shipment, previous = work.shipment, work.previous
        order = await self._order(work)
        export = work.exports.get(order.connection_id)
        if export is None:
            raise _Reject(
                "no_export",
                f"no active shipment export for connection {order.connection_id} (order "
                f"{order.order_id}): create or activate one",
            )
        # Feedback goes to the export that sends it (stored with the outcome, `_finish`).
        shipment.export_id, shipment.connection_id = export.id, order.connection_id
        verdict = check(order, shipment.line_item_ids)
        if verdict.rejected:
            raise _Reject(verdict.code or "", verdict.reason)
        provider = await self._provider(order, shipment, export.carriers)
        if verdict.hold_until is not None:
            now = datetime.now(UTC)
            until = verdict.hold_until
            if until <= now:  # our clock says over, TikTok still holds it: look again later
                until = now + timedelta(seconds=self.settings.hold_recheck_seconds)
            await self._finish(
                outcomes.defer,
                shipment,
                until=until,
                reason=f"order {order.order_id} is {order.status}: TikTok's cancellation hold "
                f"ends {verdict.hold_until.isoformat()}",
                feedback=export.feedback_enabled,
            )
            return
        package_id = orders.package_ids(order)[0]
        shipped = orders.shipped_tracking(order)
        action = (
            "update" if previous or (shipped and shipped != shipment.tracking_number) else "ship"
        )
        if shipped == shipment.tracking_number:
            await self._done(
                shipment,
                export.feedback_enabled,
                "ship",
                provider,
                package_id,
                "TikTok already shows it",
            )
            return
        if shipment.reconcile and await self._already(shipment, order, package_id):
            await self._done(
                shipment,
                export.feedback_enabled,
                action,
                provider,
                package_id,
                "reconciled: already sent",
            )
            return
        fulfillment = self.tiktok.shop(order.connection_id).fulfillment
        try:
            if action == "ship":
                await self.batcher.ship(
                    order.connection_id, package_id, shipment.tracking_number, provider.id
                )
            else:
                await fulfillment.update_shipping_info(
                    order.order_id, shipment.tracking_number, provider.id
                )
        except OutcomeUnknownError as exc:
            raise _Retry(
                f"{action} outcome unknown: {exc}", reconcile=True, code="outcome_unknown"
            ) from None
        except PackageRefused as refused:
            if await self._already(shipment, order, package_id):
                await self._done(
                    shipment,
                    export.feedback_enabled,
                    action,
                    provider,
                    package_id,
                    "TikTok already had it",
                )
                return
            raise _Reject(
                str(refused.code), f"TikTok refused the {action}: {refused.message}"
            ) from None
        except TikTokError as exc:
            self._token_trouble(exc, order.connection_id)
            if exc.retriable or isinstance(exc, AuthorizationExpiredError | TokenInvalidError):
                raise _Retry(f"{action} failed: {exc}", code="tiktok_unavailable") from None
            if await self._already(shipment, order, package_id):
                await self._done(
                    shipment,
                    export.feedback_enabled,
                    action,
                    provider,
                    package_id,
                    "TikTok already had it",
                )
                return
            raise _Reject(
                str(exc.code or "tiktok_error"),
                f"TikTok refused the {action}: {exc.message}",
                exc.request_id,
            ) from None
        await self._done(shipment, export.feedback_enabled, action, provider, package_id, None)

    async def _done(
        self,
        shipment: Shipment,
        feedback: bool,
        action: str,
        provider: Provider,
        package_id: str,
        note: str | None,
    ) -> None:
        await self._finish(
            outcomes.notify,
            shipment,
            feedback=feedback,
            action=action,
            provider_id=provider.id,
            package_id=package_id,
            note=note,
        )

    async def _already(self, shipment: Shipment, order: KnownOrder, package_id: str) -> bool:
        """Does the package carry this tracking number already ("Get Package Detail 202309")?"""
        try:
            detail = await self.tiktok.shop(order.connection_id).fulfillment.get_package_detail(
                package_id
            )
        except TikTokError as exc:
            self._token_trouble(exc, order.connection_id)
            raise _Retry(
                f"reconciling package {package_id} failed: {exc}",
                reconcile=True,
                code="reconcile_failed",
            ) from None
        return detail.tracking_number == shipment.tracking_number

    async def _provider(
        self, order: KnownOrder, shipment: Shipment, carriers: Sequence[dict[str, Any]]
    ) -> Provider:
        option = str(order.data.get("delivery_option_id") or "")
        if not option:
            raise _Reject("no_delivery_option", f"order {order.order_id} names no delivery option")
        try:
            providers = await self.providers.get(order.connection_id, option)
        except TikTokError as exc:
            self._token_trouble(exc, order.connection_id)
            raise _Retry(
                f"listing shipping providers failed: {exc}", code="tiktok_unavailable"
            ) from None
        found = resolve(
            carrier=shipment.carrier,
            provider_id=shipment.shipping_provider_id,
            delivery_option_id=option,
            providers=providers,
            rules=[CarrierRule.model_validate(c) for c in carriers],
        )
        if found.provider is None:
            raise _Reject("unknown_carrier", found.problem or "the carrier does not resolve")
        return found.provider


async def run_sender(rt: Runtime) -> None:
    """The worker `create_service_app` runs (when `TTS_RUN_WORKERS`)."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    sender = Sender(rt.sessions, rt.extras[EXTRA], settings)
    rt.extras["sender"] = sender
    try:
        await sender.run()
    finally:
        await sender.drain()
