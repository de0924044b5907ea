"""A sync world for the mirror's tests and bench/sync.py: a devnet in manual block mode, our escrow
applied with the escrow world's parties, purchases with an agent identifier, and a mirror (a
database synced with a chosen set of "our" wallets)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycardano import TransactionBuilder, TransactionOutput, Value
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from contracts.datums import EscrowDatum, PlutusAddress
from devnet.server import DevnetConfig, DevnetServer
from node.billing.models import BillingBalance
from node.chain.blockfrost import BlockfrostChain, RetryPolicy
from node.chain.builders import Actor, EscrowBuilders, LockRequest
from node.chain.context import PortChainContext
from node.config import NetworkProfile, load_profile
from node.db import migrate
from node.db.engine import make_engine
from node.sync import service
from node.sync.models import EscrowMirror, RowStatus, SyncTransaction
from tests.conftest import scratch_database
from tests.devnet.http_helpers import api_client, usdm_unit
from tests.node.chain.escrow_world import (
    ADA,
    BUYER,
    HOUR_MS,
    SELLER,
    Escrow,
    actor,
    devnet_slot_config,
    fund_parties,
    parties_contract,
)

AGENT = bytes.fromhex("ab" * 28) + b"agent-one"
OTHER_AGENT = bytes.fromhex("cd" * 28) + b"agent-two"
STRANGER = actor("stranger", realm="sync")


def no_sleep(_seconds: float) -> None:
    """Backoff waits skipped: the devnet answers at once."""


@contextmanager
def sync_world(seed: str) -> Iterator[Escrow]:
    server = DevnetServer(DevnetConfig(port=0, block_time_s=None, seed=seed))
    server.start()
    http = api_client(server.url)
    chain = BlockfrostChain(
        server.url + "/api", seed, rate_per_s=100_000, burst=100_000,
        retry=RetryPolicy(attempts=3), sleep=no_sleep,
    )  # fmt: skip
    try:
        unit = usdm_unit(http)
        fund_parties(http, unit, 500 * ADA, 1_000_000_000)
        http.post("/devnet/faucet", json={"address": str(STRANGER.address), "lovelace": 200 * ADA,
                                          "assets": {}}).raise_for_status()  # fmt: skip
        builders = EscrowBuilders(
            PortChainContext(chain, 0), parties_contract(), devnet_slot_config(http),
            clock=lambda: server.ledger.now_ms,
        )  # fmt: skip
        yield Escrow(builders, chain, server, http, unit)
    finally:
        chain.close()
        http.close()
        server.stop()


def profile_for(escrow: Escrow, confirmations: int = 0) -> NetworkProfile:
    base = load_profile("devnet")
    script_hash = bytes(escrow.builders.contract.address.payment_part.payload).hex()
    contract = base.escrow.model_copy(
        update={"address": str(escrow.builders.contract.address), "script_hash": script_hash}
    )
    return base.model_copy(update={"escrow": contract, "required_confirmations": confirmations})


def purchase(
    escrow: Escrow,
    label: str,
    usdm: int = 10_000_000,
    *,
    agent: bytes = AGENT,
    buyer: Actor = BUYER,
    seller: Actor = SELLER,
    **changes: Any,
) -> LockRequest:
    now = escrow.devnet.ledger.now_ms
    digest = hashlib.sha256(label.encode()).digest()
    datum = EscrowDatum.make(
        buyer=PlutusAddress.from_address(buyer.address),
        seller=PlutusAddress.from_address(seller.address),
        reference_key=hashlib.sha256(b"key " + digest).digest(),
        reference_signature=hashlib.sha512(b"sig " + digest).digest(),
        seller_nonce=digest + agent, buyer_nonce=bytes.fromhex("00112233445566778899"),
        collateral_return_lovelace=0, input_hash=hashlib.sha256(b"in " + digest).digest(),
        pay_by_time=now + HOUR_MS, submit_result_time=now + 2 * HOUR_MS,
        unlock_time=now + 3 * HOUR_MS, external_dispute_unlock_time=now + 4 * HOUR_MS,
    )  # fmt: skip
    if changes:
        datum = datum.replace(**changes)
    return LockRequest(datum, Value(0, escrow.usdm(usdm)), digest.hex())


def raw_lock(escrow: Escrow, payer: Actor, datum: EscrowDatum, value: Value) -> str:
    """A lock built by hand (no builder checks): what a spoofer would send."""
    builder = TransactionBuilder(escrow.builders.context)
    builder.add_input_address(payer.address)
    builder.add_output(TransactionOutput(escrow.builders.contract.address, value, datum=datum))
    tx = builder.build_and_sign([payer.signing_key], change_address=payer.address)
    return escrow.chain.submit(bytes(tx.to_cbor()))


@dataclass
class Mirror:
    """A node's database following the escrow, with `ours` as its hot wallets."""

    engine: Engine
    escrow: Escrow
    ours: list[str]
    profile: NetworkProfile = field(init=False)

    def __post_init__(self) -> None:
        self.profile = profile_for(self.escrow)

    def sync(self, **options: Any) -> service.SyncReport:
        return service.sync_once(self.engine, self.escrow.chain, self.profile, self.ours, **options)

    def rows(self) -> list[EscrowMirror]:
        with Session(self.engine) as session:
            return list(session.exec(select(EscrowMirror).order_by(col(EscrowMirror.locked_at))))

    def by_request(self, request_id: str) -> EscrowMirror:
        with Session(self.engine) as session:
            return session.exec(
                select(EscrowMirror).where(
                    EscrowMirror.request_id == request_id,
                    EscrowMirror.status == RowStatus.CONFIRMED,
                )
            ).one()

    def snapshot(self) -> dict[str, Any]:
        """What must equal between a mirror kept through rollbacks and one rebuilt from scratch."""
        with Session(self.engine) as session:
            escrows = session.exec(
                select(EscrowMirror).where(EscrowMirror.status == RowStatus.CONFIRMED)
            ).all()
            txs = session.exec(
                select(SyncTransaction).where(SyncTransaction.status == RowStatus.CONFIRMED)
            ).all()
            balances = session.exec(select(BillingBalance)).all()
            return {
                "escrows": sorted(_escrow_facts(row) for row in escrows),
                "txs": sorted((t.position, t.tx_hash, t.kind) for t in txs),
                "balances": sorted(
                    (
                        b.agent_identifier,
                        b.side,
                        b.unit,
                        b.locked,
                        b.charged,
                        b.refunded,
                        b.protocol_fees,
                        b.tx_fees,
                        b.requests,
                    )
                    for b in balances
                    if any(
                        (b.locked, b.charged, b.refunded, b.protocol_fees, b.tx_fees, b.requests)
                    )
                ),
            }


def _escrow_facts(row: EscrowMirror) -> tuple[Any, ...]:
    return (
        row.lock_tx_hash, row.lock_output_index, row.request_id, row.state, row.validity,
        row.role, row.utxo_tx_hash, row.utxo_output_index, row.result_hash,
        sorted(row.reserved.items()), sorted(row.charged.items()), sorted(row.refunded.items()),
        sorted(row.protocol_fee.items()), row.buyer_tx_fees, row.seller_tx_fees,
        tuple(row.tx_hashes),
    )  # fmt: skip


@contextmanager
def fresh_engine(backend: str, directory: Path) -> Iterator[Engine]:
    """A second, empty database on the same backend (another node, or a rebuild)."""
    with scratch_database(backend, directory) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
