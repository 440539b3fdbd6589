"""One consumer-group member, run as its own process by the failover test.

Applies each event as an ``effects`` row tagged with its member name, slowly
(``--delay-ms`` per record) so that the test can kill it mid-stream.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiokafka import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.consumer import ConsumerRunner
from tts_common.db import create_engine, session_factory
from tts_common.events import CloudEvent


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

    runner = ConsumerRunner(
        args.bootstrap,
        args.group,
        [args.topic],
        session_factory(engine),
        handler,
        max_records=50,
        consumer_options={"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, runner.stop)
    try:
        await runner.run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--database-url", "--bootstrap", "--group", "--topic", "--member"):
        parser.add_argument(name, required=True)
    parser.add_argument("--delay-ms", type=float, default=2.0)
    asyncio.run(main(parser.parse_args()))
