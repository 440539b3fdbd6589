"""One consumer-group member, run as its own process by the failover test.

Applies each event as an ``effects`` row tagged with its member name, slowly
(``--delay-ms`` per record). Prints its stats to stderr when stopped.

``--stall-after N`` makes a victim whose kill always lands at the worst moment:
once N records are applied, the member stops committing offsets (the database
commits go through, the Kafka commits wait). A rebalance lets the waiting commit
through, since another member is taking partitions over; after the first one,
the member applies one more round, writes ``--stall-file`` and waits for good,
so the records of that round are applied but not committed when it is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.consumer import ConsumerRunner
from tts_common.db import create_engine, session_factory
from tts_common.events import CloudEvent


class _Gate(ConsumerRebalanceListener):
    """Open only while a rebalance is in progress (from revoke to assignment)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.rebalances = 0

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:  # the first join "revokes" an empty set
            self.open.set()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if self.open.is_set():
            self.rebalances += 1
        self.open.clear()


class _StallingRunner(ConsumerRunner):
    """Withholds the offset commit that follows each round once ``stall_after`` are applied.

    Overrides the runner's private ``_commit``: this file is a test double, and the
    failover test fails (no stall file) if the hook point ever moves.
    """

    def __init__(self, *args: Any, stall_after: int, stall_file: Path, **kw: Any) -> None:
        self._gate = _Gate()
        super().__init__(*args, rebalance_listener=self._gate, **kw)
        self._stall_after = stall_after
        self._stall_file = stall_file

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        if only is None and self.stats.processed >= self._stall_after:
            if self._gate.rebalances:
                self._stall_file.write_text(f"{self.stats.processed}\n")
            await self._gate.open.wait()
        await super()._commit(only)


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(args.database_url)

    async def handler(
        session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        await session.execute(
            text("INSERT INTO effects (event_id, seq, member) VALUES (:e, :s, :m)"),
            {"e": event.id, "s": event.data.get("seq"), "m": args.member},
        )
        await asyncio.sleep(args.delay_ms / 1000)

    options: dict[str, Any] = {
        "max_records": 50,
        "consumer_options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    }
    runner_args = (args.bootstrap, args.group, [args.topic], session_factory(engine), handler)
    runner: ConsumerRunner
    if args.stall_after is not None:
        runner = _StallingRunner(
            *runner_args,
            stall_after=args.stall_after,
            stall_file=Path(args.stall_file),
            **options,
        )
    else:
        runner = ConsumerRunner(*runner_args, **options)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, runner.stop)
    try:
        await runner.run()
    finally:
        await engine.dispose()
        s = runner.stats
        print(f"stats processed={s.processed} duplicates={s.duplicates}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--database-url", "--bootstrap", "--group", "--topic", "--member"):
        parser.add_argument(name, required=True)
    parser.add_argument("--delay-ms", type=float, default=2.0)
    parser.add_argument("--stall-after", type=int)
    parser.add_argument("--stall-file")
    asyncio.run(main(parser.parse_args()))
