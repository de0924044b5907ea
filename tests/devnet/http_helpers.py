"""Helpers for tests that talk to a devnet over HTTP: clients, funded wallets, the Blockfrost
OpenAPI schemas, and a scripted chain history (transfer, mint, Plutus lock and spend) built with
pycardano's BlockFrostChainContext exactly as an integrator would."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from blockfrost import BlockFrostApi
from pycardano import (
    Address,
    AlonzoMetadata,
    Asset,
    AssetName,
    AuxiliaryData,
    BlockFrostChainContext,
    Metadata,
    MultiAsset,
    Network,
    PaymentSigningKey,
    Redeemer,
    ScriptAll,
    ScriptPubkey,
    TransactionBuilder,
    TransactionOutput,
    Value,
    datum_hash,
    plutus_script_hash,
)

from devnet.server import DevnetConfig, DevnetServer
from tests.devnet.phase2_helpers import Claim, EscrowDatum, load_v3

PROJECT_ID = "devnet-tests"
HEADERS = {"project_id": PROJECT_ID}
ADA = 1_000_000
OPENAPI_PATH = (
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "blockfrost" / "openapi.yaml"
)


@contextmanager
def manual_devnet(seed: str) -> Iterator[DevnetServer]:
    """A devnet on a free port in manual mode (a block per submit), stopped afterwards."""
    server = DevnetServer(DevnetConfig(port=0, block_time_s=None, seed=seed))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_client(base_url: str) -> httpx.Client:
    """A client for `base_url` (the server root) that sends a project_id like Blockfrost's."""
    return httpx.Client(base_url=base_url, headers=HEADERS, timeout=60)


def chain_context(base_url: str) -> BlockFrostChainContext:
    return BlockFrostChainContext(project_id=PROJECT_ID, base_url=base_url + "/api")


def blockfrost_api(base_url: str) -> BlockFrostApi:
    return BlockFrostApi(project_id=PROJECT_ID, base_url=base_url + "/api")


@dataclass(frozen=True)
class HttpWallet:
    signing_key: PaymentSigningKey

    @classmethod
    def generate(cls) -> HttpWallet:
        return cls(PaymentSigningKey.generate())

    @property
    def key_hash(self) -> Any:
        return self.signing_key.to_verification_key().hash()

    @property
    def address(self) -> Address:
        return Address(self.key_hash, network=Network.TESTNET)

    @property
    def bech32(self) -> str:
        return str(self.address)


def faucet(
    client: httpx.Client, address: str, lovelace: int, assets: dict[str, int] | None = None
) -> str:
    answer = client.post(
        "/devnet/faucet", json={"address": address, "lovelace": lovelace, "assets": assets or {}}
    )
    assert answer.status_code == 200, answer.text
    tx_hash: str = answer.json()["tx_hash"]
    return tx_hash


def funded_wallet(client: httpx.Client, lovelace: int = 100 * ADA, usdm: int = 0) -> HttpWallet:
    """A fresh key with a UTxO from the faucet (and `usdm` of the test stablecoin)."""
    wallet = HttpWallet.generate()
    assets = {usdm_unit(client): usdm} if usdm else {}
    faucet(client, wallet.bech32, lovelace, assets)
    return wallet


def usdm_unit(client: httpx.Client) -> str:
    unit: str = client.get("/devnet/info").json()["usdm"]["unit"]
    return unit


def current_slot(client: httpx.Client) -> int:
    slot: int = client.get("/devnet/info").json()["current_slot"]
    return slot


def multi_asset(unit: str, quantity: int) -> MultiAsset:
    raw = bytes.fromhex(unit)
    from pycardano import ScriptHash

    return MultiAsset({ScriptHash(raw[:28]): Asset({AssetName(raw[28:]): quantity})})


# ---------------------------------------------------------------------------------------------
# Blockfrost's OpenAPI schemas


def load_openapi() -> dict[str, Any] | None:
    if not OPENAPI_PATH.exists():
        return None
    loaded: dict[str, Any] = yaml.safe_load(OPENAPI_PATH.read_text())
    return loaded


def response_schema(spec: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    """The 200 JSON schema of a path template, its `$ref`s resolved inline."""
    operation = spec["paths"][path][method]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    resolved: dict[str, Any] = resolve_refs(spec, schema)
    return resolved


def resolve_refs(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    if depth > 50:
        raise ValueError("$ref nesting too deep (a cycle?)")
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve_refs(spec, target, depth + 1)
        return {k: resolve_refs(spec, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(spec, item, depth + 1) for item in node]
    return node


# ---------------------------------------------------------------------------------------------
# A scripted history: every kind of transaction the API must describe


ESCROW = load_v3("escrow")


@dataclass(frozen=True)
class ChainStory:
    alice: HttpWallet
    bob: HttpWallet
    usdm_unit: str
    transfer_tx: str  # 250 USDM alice -> bob, with a CIP-20 (label 674) message
    mint_tx: str  # 1 NFT under a native-script policy, with CIP-25 metadata
    nft_unit: str
    native_policy_hash: str
    lock_tx: str  # 10 ADA at the escrow script, inline datum
    lock_datum_hash: str
    spend_tx: str  # the escrow claimed by alice (Plutus V3, redeemer, required signer)
    escrow_hash: str
    escrow_address: str


MESSAGE = {"msg": ["paynode devnet", "hello"]}


def build_story(base_url: str) -> ChainStory:
    client = api_client(base_url)
    context = chain_context(base_url)
    unit = usdm_unit(client)
    alice = funded_wallet(client, 300 * ADA, usdm=1_000)
    bob = HttpWallet.generate()
    transfer = _usdm_transfer(context, alice, bob, unit)
    mint_tx, nft_unit, policy_hash = _native_mint(context, alice)
    lock_tx, datum_hex, escrow_address = _escrow_lock(context, client, alice)
    spend_tx = _escrow_claim(context, client, alice, lock_tx, escrow_address)
    return ChainStory(
        alice=alice,
        bob=bob,
        usdm_unit=unit,
        transfer_tx=transfer,
        mint_tx=mint_tx,
        nft_unit=nft_unit,
        native_policy_hash=policy_hash,
        lock_tx=lock_tx,
        lock_datum_hash=datum_hex,
        spend_tx=spend_tx,
        escrow_hash=plutus_script_hash(ESCROW).payload.hex(),
        escrow_address=escrow_address,
    )


def _usdm_transfer(context: Any, alice: HttpWallet, bob: HttpWallet, unit: str) -> str:
    builder = TransactionBuilder(context)
    builder.add_input_address(alice.address)
    builder.add_output(TransactionOutput(bob.address, Value(2 * ADA, multi_asset(unit, 250))))
    builder.auxiliary_data = AuxiliaryData(AlonzoMetadata(metadata=Metadata({674: MESSAGE})))
    tx = builder.build_and_sign([alice.signing_key], change_address=alice.address)
    tx_hash: str = str(context.submit_tx(tx))
    return tx_hash


def _native_mint(context: Any, alice: HttpWallet) -> tuple[str, str, str]:
    policy = ScriptAll([ScriptPubkey(alice.key_hash)])
    policy_id = policy.hash()
    name = b"NFT1"
    builder = TransactionBuilder(context)
    builder.add_input_address(alice.address)
    builder.mint = MultiAsset({policy_id: Asset({AssetName(name): 1})})
    builder.native_scripts = [policy]
    cip25 = {721: {policy_id.payload.hex(): {"NFT1": {"name": "NFT one", "image": "ipfs://nft"}}}}
    builder.auxiliary_data = AuxiliaryData(AlonzoMetadata(metadata=Metadata(cip25)))
    nft = TransactionOutput(
        alice.address, Value(2 * ADA, MultiAsset({policy_id: Asset({AssetName(name): 1})}))
    )
    builder.add_output(nft)
    tx = builder.build_and_sign([alice.signing_key], change_address=alice.address)
    tx_hash = str(context.submit_tx(tx))
    return tx_hash, policy_id.payload.hex() + name.hex(), policy_id.payload.hex()


def _escrow_lock(context: Any, client: httpx.Client, alice: HttpWallet) -> tuple[str, str, str]:
    info = client.get("/devnet/info").json()
    deadline_ms = info["slot_config"]["zero_time_ms"] + info["current_slot"] * 1000
    assert info["slot_config"]["zero_time_ms"] == info["system_start_ms"]
    datum = EscrowDatum(bytes(alice.key_hash.payload), deadline_ms)
    escrow_address = Address(plutus_script_hash(ESCROW), network=Network.TESTNET)
    builder = TransactionBuilder(context)
    builder.add_input_address(alice.address)
    builder.add_output(TransactionOutput(escrow_address, 10 * ADA, datum=datum))
    tx = builder.build_and_sign([alice.signing_key], change_address=alice.address)
    tx_hash = str(context.submit_tx(tx))
    return tx_hash, datum_hash(datum).payload.hex(), str(escrow_address)


def _escrow_claim(
    context: Any, client: httpx.Client, alice: HttpWallet, lock_tx: str, escrow_address: str
) -> str:
    locked = [u for u in context.utxos(escrow_address) if str(u.input.transaction_id) == lock_tx]
    assert locked, "the lock output is not visible at the escrow address"
    slot = current_slot(client)
    builder = TransactionBuilder(context)
    builder.add_script_input(locked[0], script=ESCROW, redeemer=Redeemer(Claim()))
    builder.add_input_address(alice.address)
    builder.add_output(TransactionOutput(alice.address, 9 * ADA))
    builder.required_signers = [alice.key_hash]
    builder.validity_start = slot
    builder.ttl = slot + 600
    tx = builder.build_and_sign([alice.signing_key], change_address=alice.address)
    tx_hash: str = str(context.submit_tx(tx))
    return tx_hash
