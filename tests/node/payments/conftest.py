"""A seller node on a devnet over HTTP: a Selling wallet of fixed mnemonic (re-added to each
test's empty database) holding registry NFTs minted once per module for each pricing mode, a
buyer that locks with EscrowBuilders directly, and the worker steps run by hand."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pycardano import Address, Network, PaymentSigningKey, Value
from sqlalchemy import Engine
from sqlmodel import Session

from contracts.datums import EscrowDatum, PlutusAddress
from devnet.server import DevnetServer
from node.chain.builders import Actor, EscrowBuilders, LockRequest
from node.chain.context import PortChainContext
from node.chain.contracts import registry_contract
from node.chain.registry_builders import RegistryBuilders
from node.crypto import SecretBox
from node.payments import workers
from node.payments.identifier import decode_blockchain_identifier
from node.runtime import Runtime
from node.sync import service as sync
from node.wallets.keys import derive_keys
from node.wallets.schemas import WalletCreate
from node.wallets.service import add_wallet
from registry import metadata as mip002
from tests.conftest import LiveNode, make_key, serve
from tests.devnet.http_helpers import api_client, faucet, manual_devnet, usdm_unit
from tests.node.agents.conftest import chain_runtime

ADA = 1_000_000
USDM = 1_000_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
MNEMONIC = (  # BIP-39 of sha256("payments-tests"): a fixed Selling wallet
    "seven profit shiver soldier lumber wear off burger little wild autumn hello orbit now write "
    "carry click myth lucky oval crew velvet gate rapid"
)
CLOCK_REFRESH_S = 1.1
PURCHASER = "00112233445566778899"


def _actor(name: str) -> Actor:
    key = PaymentSigningKey(
        hashlib.blake2b(f"payments-tests/{name}".encode(), digest_size=32).digest()
    )
    return Actor(key, Address(key.to_verification_key().hash(), network=Network.TESTNET))


BUYER, MINTER = _actor("buyer"), _actor("minter")


@dataclass
class SellerWorld:
    node: LiveNode
    devnet: DevnetServer
    http: httpx.Client
    usdm: str
    agents: dict[str, str]  # pricing mode → agentIdentifier
    seller_address: str

    @property
    def runtime(self) -> Runtime:
        return self.node.runtime

    def now(self) -> int:
        return self.devnet.ledger.now_ms

    def blocks(self, count: int = 1) -> None:
        self.http.post("/devnet/blocks", json={"count": count}).raise_for_status()

    def advance(self, ms: int) -> None:
        self.http.post("/devnet/time", json={"advance_seconds": -(-ms // 1000)}).raise_for_status()
        self.blocks()
        time.sleep(CLOCK_REFRESH_S)  # the node asks the devnet's time at most once a second

    def tick(self) -> dict[str, int]:
        """Sync, then the seller's steps in the scheduler's order."""
        runtime = self.runtime
        return {
            "sync": sync.sync_step(runtime),
            "follow": workers.follow_chain(runtime),
            "decide": workers.decide(runtime),
            "carry_out": workers.carry_out(runtime),
        }

    def builders(self) -> EscrowBuilders:
        runtime = self.runtime
        assert runtime.chain is not None
        return EscrowBuilders(
            PortChainContext(runtime.chain, 0), runtime.escrow,
            workers.slot_config_of(runtime), clock=self.now,
        )  # fmt: skip

    def submit(self, cbor: bytes) -> str:
        assert self.runtime.chain is not None
        tx_hash = self.runtime.chain.submit(cbor)
        self.blocks()
        return tx_hash


def times(world: SellerWorld) -> dict[str, str]:
    now = world.now()
    return {
        "payByTime": str(now + HOUR_MS),
        "submitResultTime": str(now + 2 * HOUR_MS),
        "unlockTime": str(now + 3 * HOUR_MS),
        "externalDisputeUnlockTime": str(now + 4 * HOUR_MS),
    }


def payment_body(
    world: SellerWorld, mode: str, purchaser: str = PURCHASER, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "network": "Devnet",
        "agentIdentifier": world.agents[mode],
        "identifierFromPurchaser": purchaser,
        "inputHash": hashlib.sha256(purchaser.encode()).hexdigest(),
        **times(world),
    }
    body.update(extra)
    return body


def datum_for(payment: dict[str, Any], **changes: Any) -> EscrowDatum:
    """The lock datum a buyer writes for this payment object (§3.2, §7.1 datum mapping)."""
    parts = decode_blockchain_identifier(payment["blockchainIdentifier"])
    seller = Address.from_primitive(payment["SmartContractWallet"]["walletAddress"])
    datum = EscrowDatum.make(
        buyer=PlutusAddress.from_address(BUYER.address),
        seller=PlutusAddress.from_address(seller),
        reference_key=bytes.fromhex(parts.key),
        reference_signature=bytes.fromhex(parts.signature),
        seller_nonce=bytes.fromhex(parts.seller_id),
        buyer_nonce=bytes.fromhex(parts.purchaser_id),
        collateral_return_lovelace=0,
        input_hash=bytes.fromhex(payment["inputHash"]),
        pay_by_time=int(payment["payByTime"]),
        submit_result_time=int(payment["submitResultTime"]),
        unlock_time=int(payment["unlockTime"]),
        external_dispute_unlock_time=int(payment["externalDisputeUnlockTime"]),
    )
    return datum.replace(**changes) if changes else datum


def lock(world: SellerWorld, payment: dict[str, Any], value: Value, **changes: Any) -> str:
    """The buyer locks `value` for the payment (a block follows)."""
    request = LockRequest(datum_for(payment, **changes), value, payment["requestId"])
    built = world.builders().lock(BUYER, [request])
    return world.submit(built.cbor)


def mint(world_runtime: Runtime, devnet: DevnetServer, usdm: str, mode: mip002.PricingMode,
         prices: list[int], recipient: str) -> str:  # fmt: skip
    assert world_runtime.chain is not None
    profile = world_runtime.network
    contract = registry_contract(profile, world_runtime.chain)
    builders = RegistryBuilders(
        PortChainContext(world_runtime.chain, profile.network_id), contract.script,
        contract.policy_id, lambda: devnet.ledger.now_ms, profile.slot_config,
    )  # fmt: skip
    metadata = mip002.AgentMetadata(
        name=f"{mode.value} seller agent", api_base_url="https://agents.example.com/seller",
        author=mip002.Author(name="Test"), tags=["tests"], pricing_mode=mode,
        amounts=[mip002.Amount(quantity=p, unit=usdm) for p in prices],
    )  # fmt: skip
    built, asset_name = builders.mint(
        MINTER, mip002.to_onchain(metadata), recipient=Address.from_primitive(recipient)
    )
    world_runtime.chain.submit(built.cbor)
    return contract.policy_id.hex() + asset_name


@pytest.fixture(scope="module")
def seller_devnet() -> Iterator[DevnetServer]:
    with manual_devnet("payments-tests") as server:
        yield server


@pytest.fixture(scope="module")
def seller_world(
    database_url: str,
    migrated_engine: Engine,
    secret_box: SecretBox,
    seller_devnet: DevnetServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SellerWorld]:
    runtime = chain_runtime(
        database_url, migrated_engine, secret_box, seller_devnet, tmp_path_factory.mktemp("data")
    )
    address = derive_keys(MNEMONIC, 0).address
    with api_client(seller_devnet.url) as http, serve(runtime) as node:
        usdm = usdm_unit(http)
        for party, usdm_amount in ((address, 0), (str(BUYER.address), 500 * USDM),
                                   (str(MINTER.address), 0)):  # fmt: skip
            faucet(http, party, 500 * ADA, {usdm: usdm_amount} if usdm_amount else None)
        http.post("/devnet/blocks", json={"count": 1})
        agents = {}
        for mode, prices in (
            (mip002.PricingMode.FIXED, [2 * USDM]),
            (mip002.PricingMode.FIXED_PRICES, [1 * USDM, 4 * USDM]),
            (mip002.PricingMode.DYNAMIC, []),
            (mip002.PricingMode.FREE, []),
        ):
            agents[mode.value] = mint(runtime, seller_devnet, usdm, mode, prices, address)
            http.post("/devnet/blocks", json={"count": 1})
        yield SellerWorld(node, seller_devnet, http, usdm, agents, address)
    assert runtime.chain is not None
    runtime.chain.close()


@pytest.fixture
def world(seller_world: SellerWorld, engine: Engine, secret_box: SecretBox) -> SellerWorld:
    """An empty database with the Selling wallet added back."""
    with Session(engine, expire_on_commit=False) as session:
        request = WalletCreate.model_validate({"type": "Selling", "walletMnemonic": MNEMONIC})
        add_wallet(session, secret_box, seller_world.runtime.profile, request)
    return seller_world


@pytest.fixture
def pay(world: SellerWorld, session: Session, secret_box: SecretBox) -> Iterator[httpx.Client]:
    with world.node.client(make_key(session, secret_box, permission="ReadAndPay")) as client:
        yield client


@pytest.fixture
def admin(world: SellerWorld, session: Session, secret_box: SecretBox) -> Iterator[httpx.Client]:
    with world.node.client(make_key(session, secret_box, canAdmin=True)) as client:
        yield client


def data(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]
