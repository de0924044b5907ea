"""The escrow world the chain tests and bench/tx_build.py share: parties, our escrow applied with
their keys, and a devnet served over HTTP to build against."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx
from pycardano import (
    Address,
    Asset,
    AssetName,
    MultiAsset,
    Network,
    PaymentSigningKey,
    ScriptHash,
    Transaction,
    TransactionInput,
    UTxO,
    Value,
)

from contracts.datums import EscrowDatum, PlutusAddress
from contracts.params import EscrowParams, escrow_script
from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import Actor, BuiltTx, EscrowBuilders, EscrowContract, LockRequest
from node.config import SlotConfig

ADA = 1_000_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
COOLDOWN_MS = 7 * MINUTE_MS
FEE_PERMILLE = 50


def actor(name: str, realm: str = "builders") -> Actor:
    key = PaymentSigningKey(hashlib.blake2b(f"{realm}/{name}".encode(), digest_size=32).digest())
    return Actor(key, Address(key.to_verification_key().hash(), network=Network.TESTNET))


BUYER, SELLER, FEE = actor("buyer"), actor("seller"), actor("fee")
ADMINS = [actor(f"admin-{i}") for i in range(3)]


def escrow_params() -> EscrowParams:
    """Our escrow's parameters with these parties: 2 of the 3 admins, 5 % fee, 7-min cooldown."""
    return EscrowParams(
        required_admins_multi_sig=2,
        admin_vks=tuple(bytes(admin.key_hash.payload) for admin in ADMINS),
        fee_address=str(FEE.address),
        fee_permille=FEE_PERMILLE,
        cooldown_period_ms=COOLDOWN_MS,
    )


def parties_contract() -> EscrowContract:
    script = escrow_script(escrow_params())
    return EscrowContract(
        script=script.plutus_script,
        address=script.address(Network.TESTNET),
        fee_address=FEE.address,
        fee_permille=FEE_PERMILLE,
        cooldown_ms=COOLDOWN_MS,
    )


def devnet_slot_config(http: httpx.Client) -> SlotConfig:
    info = http.get("/devnet/info").json()["slot_config"]
    return SlotConfig(
        zero_time_ms=info["zero_time_ms"],
        zero_slot=info["zero_slot"],
        slot_length_ms=info["slot_length_ms"],
    )


def fund_parties(http: httpx.Client, unit: str, lovelace: int, buyer_usdm: int) -> None:
    """ADA for every party from the devnet's faucet, and USDM for the buyer."""
    for party in (BUYER, SELLER, *ADMINS):
        assets = {unit: buyer_usdm} if party is BUYER else {}
        answer = http.post(
            "/devnet/faucet",
            json={"address": str(party.address), "lovelace": lovelace, "assets": assets},
        )
        answer.raise_for_status()


@dataclass
class Escrow:
    builders: EscrowBuilders
    chain: BlockfrostChain
    devnet: DevnetServer
    http: httpx.Client
    unit: str

    def submit(self, built: BuiltTx) -> Transaction:
        assert self.chain.submit(built.cbor) == built.tx_hash
        return built.tx

    def escrow_utxo(self, tx: Transaction, index: int = 0) -> UTxO:
        txin = TransactionInput(tx.id, index)
        return UTxO(txin, tx.transaction_body.outputs[index])

    def advance(self, ms: int) -> None:
        self.http.post("/devnet/time", json={"advance_seconds": -(-ms // 1000)})
        self.http.post("/devnet/blocks", json={"count": 1})

    def usdm(self, quantity: int) -> MultiAsset:
        policy, name = bytes.fromhex(self.unit[:56]), bytes.fromhex(self.unit[56:])
        return MultiAsset({ScriptHash(policy): Asset({AssetName(name): quantity})})

    def purchase(self, label: str, usdm: int = 10_000_000) -> LockRequest:
        now = self.devnet.ledger.now_ms
        return sample_purchase(label, SELLER.address, now, Value(0, self.usdm(usdm)))


def sample_purchase(label: str, seller: Address, now: int, value: Value) -> LockRequest:
    """A lock of `value` from BUYER to `seller`, deadlines an hour apart from `now`; the request
    id and nonces derive from `label`."""
    datum = EscrowDatum.make(
        buyer=PlutusAddress.from_address(BUYER.address),
        seller=PlutusAddress.from_address(seller),
        reference_key=bytes(40),
        reference_signature=bytes(120),
        seller_nonce=hashlib.sha256(label.encode()).digest(),
        buyer_nonce=bytes.fromhex("00112233445566778899"),
        collateral_return_lovelace=0,
        input_hash=hashlib.sha256(b"input " + label.encode()).digest(),
        pay_by_time=now + HOUR_MS,
        submit_result_time=now + 2 * HOUR_MS,
        unlock_time=now + 3 * HOUR_MS,
        external_dispute_unlock_time=now + 4 * HOUR_MS,
    )
    return LockRequest(datum, value, hashlib.sha256(label.encode()).hexdigest())
