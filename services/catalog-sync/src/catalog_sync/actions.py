"""The export's TikTok calls: create, adopt, reconcile, edit, price, inventory, delete.

Never a duplicate product: before a create the product is recorded as `creating` (committed);
a create whose outcome is unknown (`OutcomeUnknownError`, a 5xx or a lost answer on a write)
is recorded `unknown` and reconciled at once — a search by seller SKU finds the listing if the
create happened (it is adopted), else the create is sent again. A run killed anywhere resumes
from these records the same way. An expired or revoked connection pauses the run (`Pause`),
no storm of per-item failures; TikTok's daily listing cap defers the remaining creates while
edits, price and stock updates go on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tiktok_shop.errors import (
    CredentialsError,
    NetworkError,
    OutcomeUnknownError,
    ServerError,
    TikTokError,
)
from tiktok_shop.lease import ConnectionUnavailableError
from tiktok_shop.models.products import ProductSummary, SearchProductsRequest
from tts_common.db import session_scope

from catalog_sync import audit, state
from catalog_sync.delta import Action, Plan, Stored, StoredSku, plan
from catalog_sync.payload import BuiltProduct
from catalog_sync.runs import Pause, Performer, RunState
from catalog_sync.tiktok import TikTok

log = logging.getLogger(__name__)

# TikTok's answer to a create beyond a new shop's daily listing cap ("Create Product 202309";
# docs/sandbox.md, "Daily listing cap").
LISTING_CAP_CODES = frozenset({12019068})
# A seller SKU another product of the shop holds ("Create Product 202309"): after a create
# whose answer was lost, most likely our own listing, not yet found by the search.
SELLER_SKU_TAKEN = 12052056
SEARCH_SKUS = 10  # Search Products 202502 takes at most 10 seller SKUs
WEBHOOK_EVENTS = ("PRODUCT_STATUS_CHANGE", "PRODUCT_AUDIT_STATUS_CHANGE")


def _uncertain(exc: TikTokError) -> bool:
    """Did a write maybe happen? (its answer was lost, or TikTok failed while handling it)"""
    if isinstance(exc, OutcomeUnknownError):
        return True
    if isinstance(exc, NetworkError):
        return exc.sent
    return isinstance(exc, ServerError)


@dataclass(frozen=True)
class Sent:
    """What a write whose outcome is unknown sent: what TikTok holds if it happened."""

    content_hash: str | None
    skus: Mapping[str, StoredSku]
    payload: dict[str, Any] | None

    @classmethod
    def of(cls, record: state.Record, built: BuiltProduct | None) -> Sent:
        stored = record.stored
        if stored.skus or built is None:
            return cls(stored.content_hash, stored.skus, record.payload)
        skus = {s: StoredSku(p.price_hash, p.inventory_hash) for s, p in built.skus.items()}
        return cls(built.content_hash, skus, built.document)


def _failed(action: str, exc: TikTokError) -> state.Outcome:
    return state.Outcome(
        action, "failed", code=exc.code, message=exc.message[:1000], request_id=exc.request_id
    )


class TikTokPerformer(Performer):
    def __init__(self, tiktok: TikTok, webhook_address: str = "") -> None:
        self.tiktok = tiktok
        self.webhook_address = webhook_address
        self._subscribed: set[str] = set()  # connections whose shop has our product webhooks

    def _api(self, run: RunState) -> Any:
        assert run.feed.connection_id is not None
        return self.tiktok.shop(run.feed.connection_id).products

    async def perform(
        self,
        run: RunState,
        parent_id: str,
        built: Any,
        record: state.Record | None,
        todo: Plan,
    ) -> list[state.Outcome]:
        try:
            return await self._perform(run, parent_id, built, record, todo)
        except (ConnectionUnavailableError, CredentialsError) as exc:
            raise Pause(self._lost(run, exc)) from None

    async def begin(self, run: RunState) -> None:
        """A run asks the broker for the connection's token afresh (not a cached lease): a
        connection revoked or expired since is seen at the first call and pauses the run."""
        if run.feed.connection_id is not None:
            self.tiktok.tokens.invalidate(run.feed.connection_id)
            if not run.dry_run:
                await self._subscribe(run.feed.connection_id)

    async def _subscribe(self, connection_id: str) -> None:
        """Best effort, once per connection and process: the product webhooks to this
        service ("Update Shop Webhook 202309"); without them the audit poll finds the results."""
        if not self.webhook_address or connection_id in self._subscribed:
            return
        try:
            events = self.tiktok.shop(connection_id).events
            for event_type in WEBHOOK_EVENTS:
                await events.update_webhook(event_type, self.webhook_address)
        except (ConnectionUnavailableError, CredentialsError):
            return  # the run's first call pauses it with the reason
        except TikTokError as exc:
            log.warning(
                "product webhook subscription failed",
                extra={"connection_id": connection_id, "code": exc.code},
            )
            return
        self._subscribed.add(connection_id)

    def pause_reason(self, run: RunState, exc: BaseException) -> str | None:
        if isinstance(exc, ConnectionUnavailableError | CredentialsError):
            return self._lost(run, exc)
        return None

    def _lost(self, run: RunState, exc: TikTokError) -> str:
        """The pause's reason; the connection's cached token is dropped, so the first call
        after the seller authorized again leases the new one."""
        if run.feed.connection_id is not None:
            self.tiktok.tokens.invalidate(run.feed.connection_id)
        return f"the feed's connection cannot be used: {exc}"

    async def _perform(
        self,
        run: RunState,
        parent_id: str,
        built: BuiltProduct,
        record: state.Record | None,
        todo: Plan,
    ) -> list[state.Outcome]:
        stored = record.stored if record else None
        first = todo.actions[0]
        done: list[state.Outcome] = []
        if first is Action.RECONCILE:
            assert record is not None
            stored = await self._reconcile(run, parent_id, Sent.of(record, built))
            done.append(state.Outcome("reconcile", "ok"))
            if built is None:
                return done
            todo = plan(built, stored, adopt_existing=False)
            if not todo.writes:
                return done
            first = todo.actions[0]
        if first is Action.ADOPT:
            stored = await self._adopt(run, parent_id, built)
            todo = plan(built, stored, adopt_existing=False)
            if stored is not None:
                done.append(state.Outcome("adopt", "ok"))
            if not todo.writes:
                return done
            first = todo.actions[0]
        if first is Action.CREATE:
            return [*done, await self._create(run, parent_id, built)]
        if first is Action.EDIT:
            return [*done, await self._edit(run, parent_id, built, stored)]
        for action in todo.actions:
            if action is Action.PRICE:
                outcome = await self._price(run, parent_id, built, stored, todo.price_skus)
            elif action is Action.INVENTORY:
                outcome = await self._inventory(run, parent_id, built, stored, todo.inventory_skus)
            else:
                continue
            done.append(outcome)
            if outcome.outcome != "ok":
                break
        return done

    # -- create, reconcile ------------------------------------------------------------

    async def _save(
        self,
        run: RunState,
        parent_id: str,
        *,
        review_since: datetime | None = None,
        now: bool = False,
        **values: Any,
    ) -> None:
        """Store the product's state; `review_since`: TikTok accepted a create or edit sent
        then, so its review is pending (`catalog_sync.audit.under_review`).

        What a call's answer taught is written with the product's result (`RunState.defer`:
        a crash before that commit leaves the state from before the call, which the next run
        reconciles); `now`: committed before this returns (the state before a create)."""
        ops = [state.save_op(run.feed.id, parent_id, **values)]
        if review_since is not None:
            ops.append(audit.under_review_op(run.feed.id, parent_id, review_since))
        if now:
            await run.write(parent_id, ops)
            return
        for op in ops:
            run.defer(parent_id, op)

    def _stored_skus(self, built: BuiltProduct, sku_ids: dict[str, str]) -> dict[str, StoredSku]:
        return {
            s: StoredSku(p.price_hash, p.inventory_hash, sku_ids.get(s))
            for s, p in built.skus.items()
        }

    async def _create(
        self,
        run: RunState,
        parent_id: str,
        built: BuiltProduct,
        attempts: int = 3,
        after_unknown: bool = False,
    ) -> state.Outcome:
        if run.creates_paused:
            return state.Outcome("create", "deferred", message=run.creates_paused)
        # Recorded before TikTok is called: a crash after the call is reconciled, not repeated.
        await self._save(
            run,
            parent_id,
            now=True,
            status="creating",
            tiktok_product_id=None,
            content_hash=built.content_hash,
            skus=self._stored_skus(built, {}),
            payload=built.document,
        )
        sent_at = datetime.now(UTC)
        try:
            result = await self._api(run).create_product(built.to_input())
        except (ConnectionUnavailableError, CredentialsError):
            await self._forget(run, parent_id)
            raise
        except TikTokError as exc:
            if _uncertain(exc):
                log.warning(
                    "create outcome unknown; reconciling",
                    extra={"feed_id": run.feed.id, "parent_id": parent_id, "code": exc.code},
                )
                await self._save_status(run, parent_id, "unknown")
                sent = Sent(built.content_hash, self._stored_skus(built, {}), built.document)
                stored = await self._reconcile(run, parent_id, sent)
                if stored.status == "live":
                    return state.Outcome("create", "ok", message="reconciled after a lost answer")
                if attempts <= 1:  # TikTok keeps failing: the next run tries again
                    return _failed("create", exc)
                return await self._create(run, parent_id, built, attempts - 1, after_unknown=True)
            if after_unknown and exc.code == SELLER_SKU_TAKEN:
                # The lost create may have gone through after all, not yet searchable: the
                # next run reconciles again instead of creating.
                await self._save_status(run, parent_id, "unknown")
                return _failed("create", exc)
            await self._forget(run, parent_id)
            if exc.code in LISTING_CAP_CODES:
                run.creates_paused = f"TikTok's listing limit: {exc.message}"
                return state.Outcome("create", "deferred", code=exc.code, message=exc.message)
            return _failed("create", exc)
        sku_ids = {s.seller_sku: str(s.id) for s in result.skus if s.seller_sku}
        await self._save(
            run,
            parent_id,
            status="live",
            tiktok_product_id=str(result.product_id),
            content_hash=built.content_hash,
            skus=self._stored_skus(built, sku_ids),
            payload=built.document,
            review_since=sent_at,
        )
        return state.Outcome("create", "ok")

    async def _save_status(self, run: RunState, parent_id: str, status: str) -> None:
        run.defer(parent_id, state.status_op(run.feed.id, parent_id, status))

    async def _forget(self, run: RunState, parent_id: str) -> None:
        """The create certainly did not happen: no product at TikTok (a later run creates)."""
        await self._save(
            run,
            parent_id,
            status="failed",
            tiktok_product_id=None,
            content_hash=None,
            skus={},
            payload=None,
        )

    async def _search(
        self, run: RunState, seller_skus: list[str], *, exact: bool
    ) -> ProductSummary | None:
        """The shop's listing holding these seller SKUs ("Search Products 202502", by seller
        SKU), deleted ones aside. `exact`: it must hold exactly these (our own create did);
        a listing holding only some of them is another product's (the seller's data repeats
        a SKU), never taken for ours."""
        wanted = set(seller_skus)
        for start in range(0, len(seller_skus), SEARCH_SKUS):
            page = await self._api(run).search_products(
                SearchProductsRequest(seller_skus=seller_skus[start : start + SEARCH_SKUS])
            )
            for product in page.products:
                if product.status == "DELETED":
                    continue
                held = {s.seller_sku for s in product.skus if s.seller_sku}
                if held == wanted or (not exact and held & wanted):
                    return product
        return None

    async def _reconcile(self, run: RunState, parent_id: str, sent: Sent) -> Stored:
        """Did the write whose answer was lost happen? Link the listing it made (live, holding
        what was sent), or record that there is none (a create may then be sent)."""
        found = await self._search(run, sorted(sent.skus), exact=True)
        if found is None:
            await self._forget(run, parent_id)
            return Stored("failed", None, None)
        sku_ids = {s.seller_sku: str(s.id) for s in found.skus if s.seller_sku}
        skus = {
            s: StoredSku(v.price_hash, v.inventory_hash, sku_ids.get(s, v.sku_id))
            for s, v in sent.skus.items()
        }
        await self._save(
            run,
            parent_id,
            status="live",
            tiktok_product_id=str(found.id),
            content_hash=sent.content_hash,
            skus=skus,
            payload=sent.payload,
        )
        return Stored("live", str(found.id), sent.content_hash, skus)

    async def _adopt(self, run: RunState, parent_id: str, built: BuiltProduct) -> Stored | None:
        """`adopt_existing`: link a listing that has our seller SKUs instead of creating one."""
        found = await self._search(run, sorted(built.skus), exact=False)
        if found is None:
            return None
        sku_ids = {s.seller_sku: str(s.id) for s in found.skus if s.seller_sku}
        # What the adopted listing holds is not known: the plan then edits it to match.
        skus = {s: StoredSku("", "", sku_id) for s, sku_id in sku_ids.items()}
        await self._save(
            run,
            parent_id,
            status="live",
            tiktok_product_id=str(found.id),
            content_hash=None,
            skus=skus,
            payload=None,
        )
        return Stored("live", str(found.id), None, skus)

    # -- edit, price, inventory, delete -----------------------------------------------

    async def _edit(
        self, run: RunState, parent_id: str, built: BuiltProduct, stored: Stored | None
    ) -> state.Outcome:
        assert stored is not None and stored.tiktok_product_id is not None
        sku_ids = {s: v.sku_id for s, v in stored.skus.items() if v.sku_id}
        sent_at = datetime.now(UTC)
        try:
            result = await self._api(run).edit_product(
                stored.tiktok_product_id, built.to_input(sku_ids)
            )
        except (ConnectionUnavailableError, CredentialsError):
            raise
        except TikTokError as exc:
            # An edit is idempotent: one whose outcome is unknown is simply sent again next run.
            await self._save_status(run, parent_id, "failed")
            return _failed("edit", exc)
        new_ids = {s.seller_sku: str(s.id) for s in result.skus if s.seller_sku}
        await self._save(
            run,
            parent_id,
            status="live",
            tiktok_product_id=stored.tiktok_product_id,
            content_hash=built.content_hash,
            skus=self._stored_skus(built, {**sku_ids, **new_ids}),
            payload=built.document,
            review_since=sent_at,
        )
        return state.Outcome("edit", "ok")

    async def _price(
        self,
        run: RunState,
        parent_id: str,
        built: BuiltProduct,
        stored: Stored | None,
        seller_skus: tuple[str, ...],
    ) -> state.Outcome:
        return await self._sku_update("price", run, parent_id, built, seller_skus)

    async def _inventory(
        self,
        run: RunState,
        parent_id: str,
        built: BuiltProduct,
        stored: Stored | None,
        seller_skus: tuple[str, ...],
    ) -> state.Outcome:
        return await self._sku_update("inventory", run, parent_id, built, seller_skus)

    async def _sku_update(
        self,
        kind: Literal["price", "inventory"],
        run: RunState,
        parent_id: str,
        built: BuiltProduct,
        seller_skus: tuple[str, ...],
    ) -> state.Outcome:
        """Update Price or Update Inventory for `seller_skus` (no re-audit), then store the new
        hash of what changed. The stored row is read afresh: a price update in the same step
        may have changed it (its deferred state is committed first)."""
        await run.write(parent_id)
        async with session_scope(run.sessions) as session:
            current = (await state.load(session, run.feed.id, [parent_id]))[parent_id].stored
        assert current.tiktok_product_id is not None
        sku_ids = {s: v.sku_id for s, v in current.skus.items() if v.sku_id}
        api = self._api(run)
        try:
            if kind == "price":
                body = built.price_update(sku_ids, seller_skus)
                result = await api.update_price(current.tiktok_product_id, body.skus)
            else:
                stock = built.inventory_update(sku_ids, seller_skus)
                result = await api.update_inventory(current.tiktok_product_id, stock.skus)
        except (ConnectionUnavailableError, CredentialsError):
            raise
        except TikTokError as exc:
            return _failed(kind, exc)
        if not result.ok:
            first = result.item_errors[0]
            return state.Outcome(kind, "failed", code=first.code, message=first.message)
        skus = dict(current.skus)
        for s in seller_skus:
            old, new = skus[s], built.skus[s]
            skus[s] = (
                StoredSku(new.price_hash, old.inventory_hash, old.sku_id)
                if kind == "price"
                else StoredSku(old.price_hash, new.inventory_hash, old.sku_id)
            )
        await self._save(
            run,
            parent_id,
            status="live",
            tiktok_product_id=current.tiktok_product_id,
            content_hash=current.content_hash,
            skus=skus,
            payload=built.document,
        )
        return state.Outcome(kind, "ok")

    async def delete(self, run: RunState, products: dict[str, str]) -> dict[str, state.Outcome]:
        try:
            result = await self._api(run).delete_products(list(products.values()))
        except (ConnectionUnavailableError, CredentialsError) as exc:
            raise Pause(self._lost(run, exc)) from None
        except TikTokError as exc:
            return {p: _failed("delete", exc) for p in products}
        refused = {
            str(e.detail.get("product_id")): e
            for e in result.item_errors
            if e.detail.get("product_id")
        }
        out: dict[str, state.Outcome] = {}
        for parent_id, product_id in products.items():
            error = refused.get(product_id)
            if error is not None:
                out[parent_id] = state.Outcome(
                    "delete", "failed", code=error.code, message=error.message
                )
                continue
            await self._save(
                run,
                parent_id,
                status="deleted",
                tiktok_product_id=product_id,
                content_hash=None,
                skus={},
                payload=None,
            )
            out[parent_id] = state.Outcome("delete", "ok")
        return out
