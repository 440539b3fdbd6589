"""The outbox relay as its own process, for the crash test.

By default this is :func:`tts_common.outbox.run_relay`, the body of the
``<service> relay`` command (SIGTERM stops it; exit code 0).

``--hold-after N`` makes a relay whose kill always lands at the worst moment:
once N rows are published (their deletes committed), the next batch is sent and
acknowledged by Kafka, then the relay writes ``--hold-file`` and waits for good
before committing that batch's delete. Killed there, the batch's rows come back
and the next relay sends them again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tts_common.db import create_engine
from tts_common.kafka import make_producer
from tts_common.outbox import OutboxRelay, run_relay


class _HoldingRelay(OutboxRelay):
    """Overrides the relay's private ``_enqueue`` (a test double: the crash test
    fails, no hold file, if the hook point ever moves)."""

    def __init__(self, *args: Any, hold_after: int, hold_file: Path, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._hold_after = hold_after
        self._hold_file = hold_file

    async def _enqueue(self, rows: Sequence[Any]) -> list[asyncio.Future[Any]]:
        acks = await super()._enqueue(rows)
        if self.published >= self._hold_after:
            await asyncio.gather(*acks)  # on Kafka, delete not committed
            self._hold_file.write_text(f"{self.published} {len(rows)}\n")
            await asyncio.Event().wait()  # until killed
        return acks


async def _hold(args: argparse.Namespace) -> None:
    engine = create_engine(args.database_url, pool_size=2, max_overflow=0)
    producer = make_producer(args.bootstrap)
    await producer.start()
    relay = _HoldingRelay(
        engine,
        producer,
        batch_size=args.batch_size,
        poll_interval=args.poll_interval,
        pipeline=1,
        hold_after=args.hold_after,
        hold_file=Path(args.hold_file),
    )
    await relay.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--pipeline", type=int, default=2)
    parser.add_argument("--hold-after", type=int)
    parser.add_argument("--hold-file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.hold_after is not None:
        asyncio.run(_hold(args))
    else:
        asyncio.run(
            run_relay(
                args.database_url,
                args.bootstrap,
                batch_size=args.batch_size,
                poll_interval=args.poll_interval,
                pipeline=args.pipeline,
            )
        )
