"""The `paynode` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.panel import Panel
from sqlmodel import Session

from node.app import create_app
from node.auth import service as auth_service
from node.auth.schemas import ALL_NETWORKS, ApiKeyCreate
from node.bootstrap import open_runtime
from node.chain.blockfrost import BlockfrostChain
from node.chain.contracts import ContractError
from node.chain.port import ChainError
from node.chain.reference import ReferenceFailed, ReferenceRefused, ReferenceScript, profile_line
from node.config import ConfigError, Settings, load_settings
from node.db import migrate
from node.db.engine import make_engine
from node.runtime import Runtime
from node.sync.cli import sync_app
from registry.onchain import OnchainAgent

app = typer.Typer(help="paynode: a Masumi-compatible payment node for AI agents on Cardano.")
db_app = typer.Typer(help="The node's database.")
keys_app = typer.Typer(help="API keys.")
registry_app = typer.Typer(help="The on-chain agent registry, read from the chain.")
escrow_app = typer.Typer(help="The escrow contract: its reference script.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(sync_app, name="sync")
app.add_typer(registry_app, name="registry")
app.add_typer(escrow_app, name="escrow")

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


def _serve(runtime: Runtime, app: FastAPI | None = None) -> None:
    settings = runtime.settings
    console.print(
        f"paynode on {runtime.profile.display_name}: http://{settings.host}:{settings.port} "
        f"(API docs at /docs)"
    )
    served = app if app is not None else create_app(runtime)
    uvicorn.run(served, host=settings.host, port=settings.port, log_level=settings.log_level)


def _deploy_reference_script(runtime: Runtime) -> None:
    """Escrow spends reference the script instead of carrying its bytes (lower fees)."""
    from node.chain.network import deploy_devnet_reference_script

    assert runtime.chain is not None
    found = deploy_devnet_reference_script(runtime.network, runtime.chain, runtime.blockfrost_url)
    console.print(f"devnet: escrow reference script at {found.input}")


def _with_demo_agent(runtime: Runtime, devnet_url: str) -> FastAPI:
    """The node's app with the demo agent mounted at /demo-agent, registered on first start."""
    from node.jobs import agent_router, demo

    host = "127.0.0.1" if runtime.settings.host in ("0.0.0.0", "::") else runtime.settings.host
    agent = demo.beside_node(runtime, f"http://{host}:{runtime.settings.port}", devnet_url)
    app = create_app(runtime)
    app.include_router(agent_router(agent.kit), prefix=demo.PREFIX)
    agent.start_setup(console.print)
    console.print(f"demo agent: {agent.api_base_url} (registered on first start)")
    return app


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
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no data/ yet
    state = settings.data_dir / "devnet-state.json"
    devnet = DevnetServer(DevnetConfig(port=devnet_port, state_path=state))
    devnet.start()
    console.print(f"devnet: Blockfrost API at {devnet.blockfrost_url} (state in {state})")
    console.print(f"devnet: test USDM {devnet.ledger.usdm_unit}")
    try:
        chained = settings.model_copy(update={"blockfrost_url": devnet.url + "/api"})
        runtime = _open(chained)
        _deploy_reference_script(runtime)
        _serve(runtime, _with_demo_agent(runtime, devnet.url))
    finally:
        devnet.stop()


@app.command()
def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="An empty directory for the two nodes (default: a temp)")
    ] = None,
    seller_port: Annotated[int, typer.Option(help="Port of the seller node")] = 3101,
    buyer_port: Annotated[int, typer.Option(help="Port of the buyer node")] = 3102,
    devnet_port: Annotated[int, typer.Option(help="Port of the devnet (0: any)")] = 0,
) -> None:
    """The whole story on a devnet: a seller node with the demo agent and a buyer node; quote,
    confirm, lock, result, collect; then a refund and a dispute the admins resolve."""
    import tempfile

    from node.jobs.demo_run import run_demo

    with tempfile.TemporaryDirectory(prefix="paynode-demo-") as scratch:
        where = data_dir if data_dir is not None else Path(scratch)
        code = run_demo(
            where, Console(), seller_port=seller_port, buyer_port=buyer_port,
            devnet_port=devnet_port,
        )  # fmt: skip
    raise typer.Exit(code)


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


def _registry_source(settings: Settings, policy: str | None) -> tuple[BlockfrostChain, str]:
    """The chain and the registry policy to read: `--policy`, else the network's."""
    from node.bootstrap import open_chain
    from node.chain.network import NetworkResolutionError, resolve_profile

    chain = open_chain(settings)
    if policy is not None:
        return chain, policy
    try:
        blockfrost_url = settings.blockfrost_url or settings.profile().blockfrost_url
        profile = resolve_profile(settings.profile(), blockfrost_url)
    except (NetworkResolutionError, ContractError) as error:
        console.print(f"[red]paynode: {error}[/red]")
        raise typer.Exit(2) from error
    assert profile.registry.policy_id is not None  # resolve_profile sets it or raises
    return chain, profile.registry.policy_id


def _read_registry(chain: BlockfrostChain, policy: str) -> list[OnchainAgent]:
    """Every agent under `policy`, with a progress line while the chain is read."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from registry.onchain import list_agents

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("reading the registry", total=None)

        def advance(count: int) -> None:
            progress.update(task, description=f"{count} agents read")

        try:
            return list(list_agents(chain, policy, progress=advance))
        except ValueError as error:
            console.print(f"[red]--policy: {error}[/red]")
            raise typer.Exit(2) from error
        except ChainError as error:
            console.print(f"[red]paynode: the chain did not answer: {error}[/red]")
            raise typer.Exit(1) from error


PolicyOption = Annotated[
    str | None, typer.Option("--policy", help="Registry policy id (default: the network's)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV")]


@registry_app.command("list")
def registry_list(
    network: NetworkOption = None,
    policy: PolicyOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Every agent under the registry policy, from the chain: identifier, holder, name, API
    URL, pricing, and each MIP-002 violation found."""
    from node.agents.audit import agent_row, csv_text

    if as_json and as_csv:
        console.print("[red]--json and --csv: choose one[/red]")
        raise typer.Exit(2)
    settings = _settings(network=network)
    chain, policy_id = _registry_source(settings, policy)
    rows = [agent_row(agent) for agent in _read_registry(chain, policy_id)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif as_csv:
        typer.echo(csv_text(rows), nl=False)
    else:
        _print_registry_table(rows, policy_id)


def _print_registry_table(rows: list[dict[str, Any]], policy_id: str) -> None:
    from rich.table import Table

    table = Table(title=f"Registry {policy_id}: {len(rows)} agents")
    for column in ("Agent", "Holder", "Name", "API URL", "Pricing", "Violations"):
        table.add_column(column, overflow="fold")
    for row in rows:
        pricing = " | ".join(f"{a['quantity']} {a['unit']}" for a in row["amounts"])
        table.add_row(
            row["agentIdentifier"][56:],
            row["holder"] or "-",
            row["name"] or "-",
            row["apiBaseUrl"] or "-",
            f"{row['pricingMode'] or '?'} {pricing}".strip(),
            "\n".join(f"{v['path']}: {v['message']}" for v in row["violations"]) or "-",
        )
    Console().print(table)


@registry_app.command("audit")
def registry_audit(
    network: NetworkOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the chain's registry with this node's database and list every difference
    (exit status 1 when there is one)."""
    from node.agents.audit import audit_registry, difference_row

    settings = _settings(network=network)
    runtime = _open(settings)
    chain, policy_id = _registry_source(settings, None)
    agents = _read_registry(chain, policy_id)
    with Session(runtime.engine) as session:
        differences = [difference_row(d) for d in audit_registry(session, settings.network, agents)]
    if as_json:
        typer.echo(json.dumps(differences, indent=2))
    elif not differences:
        console.print(f"the chain and the database agree on {len(agents)} agents")
    for row in [] if as_json else differences:
        typer.echo(
            f"{row['kind']}\t{row['agentIdentifier'] or '-'}\t{row['requestId'] or '-'}\t"
            f"{row['detail']}"
        )
    if differences:
        raise typer.Exit(1)


@escrow_app.command("deploy-reference-script")
def escrow_deploy_reference_script(
    holder: Annotated[
        str,
        typer.Option(
            "--holder",
            help="Address to hold the output carrying the escrow script (of this network; not "
            "one of this node's hot wallets)",
        ),
    ],
    wallet: Annotated[
        str | None,
        typer.Option("--wallet", help="Hot wallet id that pays (default: the first Selling one)"),
    ] = None,
    network: NetworkOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the chain to show it")
    ] = 300.0,
) -> None:
    """Put the network's escrow script in an output at --holder, so escrow spends reference it
    instead of carrying its bytes (lower fees); print the output and the profile line to set.
    Exit status 0 when it is there (deployed now or before), 1 when refused or failed."""
    from node.chain.network import NetworkResolutionError
    from node.wallets.reference import deploy_escrow_reference_script

    settings = _settings(network=network)
    runtime = _open(settings)
    try:
        with console.status("escrow reference script: checking the holder") as status:
            deployed = deploy_escrow_reference_script(
                runtime, holder, wallet_id=wallet, timeout_s=timeout,
                progress=lambda text: status.update(f"escrow reference script: {text}"),
            )  # fmt: skip
    except (ReferenceRefused, ReferenceFailed) as error:
        console.print(f"[red]paynode: {error}[/red]")
        raise typer.Exit(1) from error
    except (ContractError, NetworkResolutionError, ChainError) as error:
        console.print(f"[red]paynode: the escrow script cannot be read: {error}[/red]")
        raise typer.Exit(1) from error
    _print_reference(runtime, deployed)


def _print_reference(runtime: Runtime, deployed: ReferenceScript) -> None:
    how = "there already" if deployed.already_there else f"deployed by {deployed.tx_hash}"
    typer.echo(f"escrow reference script: {deployed.output_reference} ({how})")
    where = profile_line(runtime.network, deployed.holder, runtime.settings.config_dir)
    if where.already_set:
        typer.echo(f"{where.path} names this holder already: escrow spends reference it.")
    elif where.own_config_dir:
        typer.echo(f"Set it in {where.path}, under [escrow], and restart the node:")
    else:
        typer.echo(
            f"Copy {where.path} into a directory of your own, point PAYNODE_CONFIG_DIR at it, "
            "and set under [escrow] (then restart the node):"
        )
    typer.echo(where.line)


if __name__ == "__main__":
    app()
