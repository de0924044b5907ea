"""`paynode escrow deploy-reference-script` against a devnet over HTTP: a hot wallet pays for the
escrow's reference script at a fresh holder; a node whose profile names that holder then spends
the escrow by reference; every refusal names its option and spends nothing; a holder that has
the output already is printed as it is."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pycardano import Address, Network, PaymentSigningKey, Transaction, UTxO
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from devnet.server import DevnetServer
from node.chain.builders import Actor, EscrowBuilders
from node.chain.context import PortChainContext
from node.chain.contracts import deploy_reference_script
from node.chain.reference import ReferenceFailed, wait_for_reference
from node.cli import app
from node.config import default_config_dir
from node.crypto import SecretBox
from node.runtime import Runtime
from node.wallets import service as wallets
from node.wallets.models import HotWallet, HotWalletType, TxStatus, WalletTransaction
from node.wallets.schemas import WalletCreate
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.devnet.http_helpers import api_client, faucet, manual_devnet
from tests.node.agents.conftest import chain_runtime
from tests.node.chain.escrow_world import BUYER, SELLER, Escrow

PAYNODE = str(Path(sys.executable).parent / "paynode")
ADA = 1_000_000
MAINNET_ADDRESS = (
    "addr1qyfuahzn3rpnlah2ctcdjxdfl4230ygdar00qxc32guetexyg7nun6hggw9g2gpnayzf22sksr0aqdgkdcvq"
    "pc2stwtqgrp4f9"
)


def fresh_actor() -> Actor:
    key = PaymentSigningKey(hashlib.blake2b(secrets.token_bytes(16), digest_size=32).digest())
    return Actor(key, Address(key.to_verification_key().hash(), network=Network.TESTNET))


@pytest.fixture(scope="module")
def devnet() -> Iterator[DevnetServer]:
    with manual_devnet("reference-tests") as server:
        yield server


@pytest.fixture(scope="module")
def http(devnet: DevnetServer) -> Iterator[httpx.Client]:
    with api_client(devnet.url) as client:
        yield client


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The operator's own config dir: the shipped profiles, copied."""
    directory = tmp_path / "config"
    directory.mkdir()
    for profile in default_config_dir().glob("*.toml"):
        (directory / profile.name).write_text(profile.read_text())
    return directory


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    secret_box: SecretBox,
    devnet: DevnetServer,
    tmp_path: Path,
) -> Iterator[Runtime]:
    made = chain_runtime(database_url, engine, secret_box, devnet, tmp_path / "data")
    yield made
    assert made.chain is not None
    made.chain.close()


def add_wallet(runtime: Runtime, http: httpx.Client, kind: HotWalletType, ada: int) -> HotWallet:
    with Session(runtime.engine, expire_on_commit=False) as session:
        wallet = wallets.add_wallet(
            session, runtime.secrets, runtime.network, WalletCreate(type=kind)
        )
    if ada:
        faucet(http, wallet.address, ada * ADA)
    return wallet


def environment(runtime: Runtime, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYNODE_")}
    env.update(
        PAYNODE_DATABASE_URL=runtime.settings.database_url,
        PAYNODE_DATA_DIR=str(data_dir),
        PAYNODE_ENCRYPTION_KEY=TEST_ENCRYPTION_KEY,
        PAYNODE_BLOCKFROST_URL=runtime.blockfrost_url,
        COLUMNS="250",
    )
    env.update(extra)
    return env


def invoke(runtime: Runtime, data_dir: Path, *args: str) -> tuple[int, str, str]:
    """The command in this process (typer's runner): exit code, stdout, stderr (whitespace
    normalised: rich wraps long lines)."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("PAYNODE_")}
    env.update(environment(runtime, data_dir))
    result = CliRunner().invoke(app, ["escrow", "deploy-reference-script", *args], env=env)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def journal(runtime: Runtime) -> list[WalletTransaction]:
    with Session(runtime.engine) as session:
        return list(session.exec(select(WalletTransaction)))


def test_the_command_deploys_at_a_fresh_holder_and_the_node_then_spends_by_reference(
    runtime: Runtime,
    devnet: DevnetServer,
    http: httpx.Client,
    config_dir: Path,
    tmp_path: Path,
) -> None:
    chain = runtime.chain
    assert chain is not None
    seller_wallet = add_wallet(runtime, http, HotWalletType.SELLING, 100)
    holder = str(fresh_actor().address)
    env = environment(runtime, tmp_path / "data", PAYNODE_CONFIG_DIR=str(config_dir))
    command = [PAYNODE, "escrow", "deploy-reference-script", "--holder", holder]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    profile_path = config_dir / "devnet.toml"
    assert f'reference_address = "{holder}"' in done.stdout.splitlines()
    assert f"Set it in {profile_path}, under [escrow]" in done.stdout
    (deployed,) = [u for u in chain.utxos_at(holder) if u.output.script is not None]
    reference = f"{deployed.input.transaction_id.payload.hex()}#{deployed.input.index}"
    assert f"escrow reference script: {reference} (deployed by " in done.stdout
    assert deployed.output.script == runtime.escrow.script
    (row,) = journal(runtime)  # journaled by the paying wallet, confirmed once seen
    assert row.wallet_id == seller_wallet.id and row.kind == "DeployReferenceScript"
    assert row.status == TxStatus.CONFIRMED and row.invalid_hereafter_slot is not None

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert f"escrow reference script: {reference} (there already)" in again.stdout
    assert len(journal(runtime)) == 1  # nothing paid twice

    text = profile_path.read_text()
    shipped = runtime.profile.escrow.reference_address
    assert shipped is not None
    profile_path.write_text(text.replace(f'"{shipped}"', f'"{holder}"'))
    settings = runtime.settings.model_copy(update={"config_dir": config_dir})
    referencing = Runtime(settings, settings.profile(), runtime.engine, runtime.secrets, chain)
    contract = referencing.escrow
    assert contract.reference is not None and contract.reference.input == deployed.input
    named = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert named.returncode == 0 and "names this holder already" in named.stdout

    slots = referencing.network.slot_config
    assert slots is not None
    context = PortChainContext(chain, 0)
    builders = EscrowBuilders(context, contract, slots, clock=lambda: devnet.ledger.now_ms)
    inline = EscrowBuilders(
        context, dataclasses.replace(contract, reference=None), slots,
        clock=lambda: devnet.ledger.now_ms,
    )  # fmt: skip
    usdm = referencing.network.stablecoin.unit
    assert usdm is not None
    escrow = Escrow(builders, chain, devnet, http, usdm)
    faucet(http, str(BUYER.address), 50 * ADA, {usdm: 20_000_000})
    faucet(http, str(SELLER.address), 50 * ADA)
    purchase = escrow.purchase(f"by-reference-{secrets.token_hex(4)}")
    lock = escrow.escrow_utxo(escrow.submit(builders.lock(BUYER, [purchase])))
    result = hashlib.sha256(b"result by reference").digest()
    carried = inline.submit_result(SELLER, lock, result, purchase.request_id)
    referenced = builders.submit_result(SELLER, lock, result, purchase.request_id)
    escrow.submit(referenced)  # the devnet validates it, the script coming from the reference

    assert_references_the_script(referenced.tx, deployed)
    assert carried.tx.transaction_witness_set.plutus_v3_script  # inline: the script's bytes
    saved = len(carried.cbor) - len(referenced.cbor)  # about the script's size
    assert saved > len(bytes(contract.script)) * 9 // 10


def assert_references_the_script(tx: Transaction, reference: UTxO) -> None:
    body, witnesses = tx.transaction_body, tx.transaction_witness_set
    assert reference.input in (body.reference_inputs or [])
    assert not witnesses.plutus_v1_script and not witnesses.plutus_v2_script
    assert not witnesses.plutus_v3_script


def test_refusals_name_their_option_and_spend_nothing(
    runtime: Runtime, http: httpx.Client, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    purchasing = add_wallet(runtime, http, HotWalletType.PURCHASING, 0)
    holder = str(fresh_actor().address)

    code, _out, err = invoke(runtime, data_dir, "--holder", holder)
    assert code == 1 and "--wallet: this node has no Selling wallet on devnet" in err
    selling = add_wallet(runtime, http, HotWalletType.SELLING, 100)

    escrow_address = runtime.network.escrow.address
    assert escrow_address is not None
    refused = {
        MAINNET_ADDRESS: "--holder: address of another network",
        "addr_test1nonsense": "--holder: not a valid Cardano address",
        selling.address: "--holder: that is one of this node's hot wallets",
        purchasing.address: "--holder: that is one of this node's hot wallets",
        escrow_address: "--holder: that is the escrow's own address",
    }
    for address, reason in refused.items():
        code, out, err = invoke(runtime, data_dir, "--holder", address)
        assert (code, out) == (1, ""), (address, err)
        assert reason in err, (address, err)
    code, _out, err = invoke(runtime, data_dir, "--holder", holder, "--wallet", "no-such-wallet")
    assert code == 1 and "--wallet: no hot wallet no-such-wallet on devnet" in err
    assert journal(runtime) == []
    assert runtime.chain is not None and runtime.chain.utxos_at(holder) == []


def test_a_holder_with_the_output_already_is_printed_and_nothing_is_paid(
    runtime: Runtime, http: httpx.Client, tmp_path: Path
) -> None:
    chain = runtime.chain
    assert chain is not None
    holder = fresh_actor()
    faucet(http, str(holder.address), 60 * ADA)
    built = deploy_reference_script(
        PortChainContext(chain, 0), holder, runtime.escrow.script, holder.address
    )
    chain.submit(built.cbor)  # deployed before, by someone else

    code, out, err = invoke(runtime, tmp_path / "data", "--holder", str(holder.address))
    assert code == 0, err  # no wallet needed: nothing is paid
    assert f"escrow reference script: {built.tx_hash}#0 (there already)" in out
    assert f'reference_address = "{holder.address}"' in out.splitlines()
    assert "Copy " in out and "PAYNODE_CONFIG_DIR" in out  # no config dir of the operator's
    assert journal(runtime) == []


class _EmptyChain:
    def utxos_at(self, _address: str) -> list[UTxO]:
        return []


def test_waiting_gives_up_after_the_timeout_with_a_status_line() -> None:
    seen: list[str] = []
    clock = iter([0.0, 1.0, 2.5, 4.0])
    with pytest.raises(ReferenceFailed, match=r"did not show transaction ab12 within 3 s"):
        wait_for_reference(
            _EmptyChain(),  # type: ignore[arg-type]  # only utxos_at is asked
            "addr_test1holder", "00" * 28, 3.0,
            progress=seen.append, tx_hash="ab12",
            monotonic=lambda: next(clock), sleep=lambda _s: None,
        )  # fmt: skip
    assert seen == [
        "waiting for the chain to show transaction ab12 (1 s of 3 s)",
        "waiting for the chain to show transaction ab12 (2 s of 3 s)",
    ]
