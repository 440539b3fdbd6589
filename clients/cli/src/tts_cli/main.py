"""`tts`: the connector from a terminal (docs/cli.md).

The root callback turns the global options (or their TTS_* environment variables) into one
`Config`; each command group is a module of its own. Errors are `CliError`s, reported by
`CliGroup` with their exit code. Shell completion is typer's: `tts --install-completion`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tts_cli import analysis, connections, feeds, lists, orders, products, runs, shipments
from tts_cli.context import (
    DEFAULT_BROKER_URL,
    DEFAULT_CATALOG_URL,
    DEFAULT_ORDERS_URL,
    DEFAULT_SHIPMENTS_URL,
    DEV_ADMIN_KEY,
    DEV_API_KEY,
    Config,
)
from tts_cli.errors import CliGroup

app = typer.Typer(
    cls=CliGroup,
    name="tts",
    help="The TikTok Shop connector from a terminal: connections, feeds, products, runs, "
    "orders and shipments, over the services' HTTP APIs.",
    no_args_is_help=True,
    # A traceback would show local variables, among them the keys.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    catalog_url: Annotated[
        str, typer.Option(envvar="TTS_CATALOG_SYNC_URL", help="catalog-sync's base URL")
    ] = DEFAULT_CATALOG_URL,
    broker_url: Annotated[
        str, typer.Option(envvar="TTS_AUTH_BROKER_URL", help="auth-broker's base URL")
    ] = DEFAULT_BROKER_URL,
    orders_url: Annotated[
        str, typer.Option(envvar="TTS_ORDER_INGEST_URL", help="order-ingest's base URL")
    ] = DEFAULT_ORDERS_URL,
    shipments_url: Annotated[
        str,
        typer.Option(envvar="TTS_SHIPMENT_NOTIFIER_URL", help="shipment-notifier's base URL"),
    ] = DEFAULT_SHIPMENTS_URL,
    api_key: Annotated[
        str,
        typer.Option(
            envvar="TTS_API_KEY",
            help="API key of catalog-sync, order-ingest and shipment-notifier "
            "(default: the local stack's dev key)",
            show_default=False,
        ),
    ] = DEV_API_KEY,
    admin_key: Annotated[
        str,
        typer.Option(
            envvar="TTS_ADMIN_KEY",
            help="auth-broker's admin key (default: the local stack's dev key)",
            show_default=False,
        ),
    ] = DEV_ADMIN_KEY,
    json_out: Annotated[
        bool, typer.Option("--json", help="JSON output for every command (for scripts)")
    ] = False,
) -> None:
    """Global options: where the services are and the keys to use."""
    ctx.obj = Config(
        catalog_url=catalog_url,
        broker_url=broker_url,
        orders_url=orders_url,
        shipments_url=shipments_url,
        api_key=api_key,
        admin_key=admin_key,
        json=json_out,
    )


app.add_typer(connections.app, name="connections")
app.add_typer(feeds.app, name="feeds")
app.add_typer(products.app, name="products")
app.add_typer(lists.app, name="lists")
app.add_typer(runs.app, name="runs")
app.add_typer(orders.app, name="orders")
app.add_typer(shipments.app, name="shipments")
app.command("readiness")(analysis.readiness)
app.command("feedback")(analysis.feedback)
