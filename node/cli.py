"""The `paynode` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel
from sqlmodel import Session

from node.app import create_app
from node.auth import service as auth_service
from node.auth.schemas import ALL_NETWORKS, ApiKeyCreate
from node.bootstrap import open_runtime
from node.config import ConfigError, Settings, load_settings
from node.db import migrate
from node.db.engine import make_engine
from node.runtime import Runtime

app = typer.Typer(help="paynode: a Masumi-compatible payment node for AI agents on Cardano.")
db_app = typer.Typer(help="The node's database.")
keys_app = typer.Typer(help="API keys.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

console = Console(stderr=True)

NetworkOption = Annotated[
    str | None, typer.Option("--network", help="devnet, preview, preprod or mainnet")
]


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(
            **{key: value for key, value in overrides.items() if value is not None}
        )
    except ConfigError as error:
        console.print(f"[red]paynode: invalid configuration:[/red] {error}")
        raise typer.Exit(2) from error


def _open(settings: Settings) -> Runtime:
    try:
        runtime, new_admin_token = open_runtime(settings)
    except ConfigError as error:
        console.print(f"[red]paynode: invalid configuration:[/red] {error}")
        raise typer.Exit(2) from error
    if new_admin_token is not None:
        console.print(
            Panel(
                f"{new_admin_token}\n\nSend it as the header `token`. It is shown only this once; "
                "`paynode keys create --permission admin` makes another.",
                title="Admin API key",
            )
        )
    return runtime


def _serve(runtime: Runtime) -> None:
    settings = runtime.settings
    console.print(
        f"paynode on {runtime.profile.display_name}: http://{settings.host}:{settings.port} "
        f"(API docs at /docs)"
    )
    uvicorn.run(
        create_app(runtime), host=settings.host, port=settings.port, log_level=settings.log_level
    )


@app.command()
def serve(
    network: NetworkOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Run the node (migrations run first)."""
    _serve(_open(_settings(network=network, host=host, port=port)))


@app.command()
def up(
    port: Annotated[int | None, typer.Option(help="Port of the node's API")] = None,
    devnet_port: Annotated[int, typer.Option(help="Port of the devnet's API")] = 3030,
) -> None:
    """Everything on one machine with no set-up: a devnet, and the node on SQLite against it."""
    from devnet.server import DevnetConfig, DevnetServer  # here: the ledger is slow to import

    settings = _settings(network="devnet", port=port)
    state = settings.data_dir / "devnet-state.json"
    devnet = DevnetServer(DevnetConfig(port=devnet_port, state_path=state))
    devnet.start()
    console.print(f"devnet: Blockfrost API at {devnet.blockfrost_url} (state in {state})")
    console.print(f"devnet: test USDM {devnet.ledger.usdm_unit}")
    try:
        chained = settings.model_copy(update={"blockfrost_url": devnet.url + "/api"})
        _serve(_open(chained))
    finally:
        devnet.stop()


@app.command("devnet")
def devnet_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 3030,
    state: Annotated[
        Path | None, typer.Option(help="State file: loaded if it exists, kept saved")
    ] = None,
    block_time: Annotated[float, typer.Option(help="Realtime mode: a block every S seconds")] = 2.0,
    manual: Annotated[bool, typer.Option(help="A block per submitted transaction")] = False,
    seed: Annotated[str, typer.Option(help="Genesis seed (keys, test USDM policy)")] = (
        "paynode-devnet"
    ),
) -> None:
    """Run the local devnet: a Cardano ledger serving Blockfrost's API under /api/v0."""
    from devnet.server import DevnetConfig
    from devnet.server import serve as serve_devnet

    if block_time <= 0:
        console.print("[red]--block-time must be positive[/red]")
        raise typer.Exit(2)
    config = DevnetConfig(
        host=host,
        port=port,
        state_path=state,
        block_time_s=None if manual else block_time,
        seed=seed,
    )
    serve_devnet(config)


@db_app.command("upgrade")
def db_upgrade(network: NetworkOption = None) -> None:
    """Apply the database migrations."""
    settings = _settings(network=network)
    migrate.upgrade(make_engine(settings.database_url))
    console.print("database is up to date")


@keys_app.command("create")
def keys_create(
    permission: Annotated[
        str, typer.Option(help="read, pay or admin (pay includes read; admin includes all)")
    ] = "read",
    network_limit: Annotated[
        list[str] | None, typer.Option("--network-limit", help="Devnet, Preview, Preprod, Mainnet")
    ] = None,
    unlimited: Annotated[
        bool, typer.Option("--unlimited", help="no usage credits needed to pay")
    ] = False,
    network: NetworkOption = None,
) -> None:
    """Create an API key and print its token (shown only once)."""
    legacy = {"read": "Read", "pay": "ReadAndPay", "admin": "Admin"}
    if permission not in legacy:
        console.print(f"[red]--permission: {permission!r} is not one of read, pay, admin[/red]")
        raise typer.Exit(2)
    runtime = _open(_settings(network=network))
    try:
        request = ApiKeyCreate.model_validate(
            {
                "permission": legacy[permission],
                "usageLimited": not unlimited,
                "NetworkLimit": network_limit or list(ALL_NETWORKS),
            }
        )
    except ValueError as error:
        console.print(f"[red]--network-limit: {error}[/red]")
        raise typer.Exit(2) from error
    with Session(runtime.engine) as session:
        _key, token = auth_service.create_key(session, runtime.secrets, request)
    typer.echo(token)


if __name__ == "__main__":
    app()
