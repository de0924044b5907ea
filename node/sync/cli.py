"""`paynode sync status` and `paynode sync rescan [--from-tx HASH]`; `paynode sync run` catches up
once with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func
from sqlmodel import Session, select

from node.bootstrap import open_runtime
from node.config import ConfigError, load_settings
from node.runtime import Runtime
from node.sync import service
from node.sync.models import EscrowMirror, RowStatus, SyncTransaction

sync_app = typer.Typer(help="The chain mirror: checkpoint, lag, rescans.")
console = Console(stderr=True)

NetworkOption = Annotated[
    str | None, typer.Option("--network", help="devnet, preview, preprod or mainnet")
]


def _runtime(network: str | None) -> Runtime:
    try:
        settings = load_settings(**({"network": network} if network else {}))
        runtime, _token = open_runtime(settings)
    except ConfigError as error:
        console.print(f"[red]paynode: invalid configuration:[/red] {error}")
        raise typer.Exit(2) from error
    return runtime


def _target(runtime: Runtime) -> service.SyncTarget:
    profile = runtime.network
    return service.target_of(profile, service.our_addresses(runtime.engine, profile.name))


@sync_app.command("status")
def status(network: NetworkOption = None) -> None:
    """Checkpoint, lag in blocks, and counts of mirrored transactions and escrows."""
    runtime = _runtime(network)
    target = _target(runtime)
    checkpoint = service.load_checkpoint(runtime.engine, target)
    tip = runtime.chain.tip().height if runtime.chain is not None else None
    table = Table(title=f"sync of {target.address}")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, value in _status_rows(runtime, target, checkpoint.position, tip):
        table.add_row(name, value)
    table.add_row("last tx", checkpoint.last_tx_hash or "-")
    table.add_row("checkpoint height", str(checkpoint.block_height or "-"))
    table.add_row("lag (blocks)", str(tip - (checkpoint.block_height or 0)) if tip else "-")
    table.add_row("rollbacks seen", str(checkpoint.rollbacks))
    Console().print(table)


def _status_rows(
    runtime: Runtime, target: service.SyncTarget, position: int, tip: int | None
) -> list[tuple[str, str]]:
    with Session(runtime.engine) as session:
        txs = dict(
            session.exec(
                select(SyncTransaction.status, func.count())
                .where(SyncTransaction.network == target.network)
                .group_by(SyncTransaction.status)
            ).all()
        )
        escrows = session.exec(
            select(func.count()).where(
                EscrowMirror.network == target.network,
                EscrowMirror.status == RowStatus.CONFIRMED,
            )
        ).one()
        ours = session.exec(
            select(func.count()).where(
                EscrowMirror.network == target.network,
                EscrowMirror.listed == True,  # noqa: E712
            )
        ).one()
    return [
        ("position", str(position)),
        ("tip height", str(tip) if tip is not None else "-"),
        ("transactions confirmed", str(txs.get(RowStatus.CONFIRMED, 0))),
        ("transactions rolled back", str(txs.get(RowStatus.ROLLED_BACK, 0))),
        ("escrows mirrored", str(escrows)),
        ("escrows of ours", str(ours)),
    ]


@sync_app.command("run")
def run(network: NetworkOption = None) -> None:
    """Catch up once, with a progress bar over block heights."""
    runtime = _runtime(network)
    columns = (TextColumn("syncing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("blocks", total=None)

        def advance(height: int, tip: int) -> None:
            bar.update(task, completed=height, total=tip)

        report = service.sync_runtime(runtime, progress=advance)
    console.print(
        f"synced {report.processed} transactions ({report.rolled_back} rolled back), "
        f"lag {report.lag_blocks} blocks, {report.requests} Blockfrost requests"
    )


@sync_app.command("rescan")
def rescan(
    from_tx: Annotated[
        str | None, typer.Option("--from-tx", help="start again at this transaction")
    ] = None,
    network: NetworkOption = None,
) -> None:
    """Mark the mirror from a transaction (or from the start) as to be synced again."""
    runtime = _runtime(network)
    try:
        reverted = service.rescan(runtime.engine, _target(runtime), from_tx)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    console.print(f"{reverted} transactions will be synced again on the next run")
