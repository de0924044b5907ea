"""One hot wallet, many transactions per block (issue #8): a wallet chains its next transaction
on the change of its pending ones, script spends evaluated with that change as Blockfrost's
additional UTxO set, the collateral a confirmed UTxO kept apart; a parent that expires takes
its children with it. A devnet over HTTP that makes blocks only when asked (so a block's worth
of transactions waits in its mempool), real signed transactions, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from pycardano import (
    Address,
    Network,
    PaymentSigningKey,
    Transaction,
    TransactionBuilder,
    TransactionInput,
    TransactionOutput,
    UTxO,
    Value,
)
from sqlalchemy import Engine
from sqlmodel import Session, select

from contracts.datums import State
from devnet.server import DevnetConfig, DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import Actor, BuiltTx, EscrowBuilders, datum_of
from node.chain.context import COLLATERAL_LOVELACE, PortChainContext
from node.chain.port import TransactionRejected
from node.config import load_profile
from node.crypto import SecretBox
from node.wallets import service
from node.wallets.models import HotWallet, TxStatus, WalletTransaction
from node.wallets.schemas import WalletCreate
from tests.devnet.http_helpers import api_client, faucet, multi_asset, usdm_unit
from tests.node.chain.escrow_world import (
    ADA,
    devnet_slot_config,
    parties_contract,
    sample_purchase,
)

EVALUATE = "POST /utils/txs/evaluate"
EVALUATE_UTXOS = "POST /utils/txs/evaluate/utxos"
LOCK_TIMEOUT_MS = 60_000
Builder = Callable[[PortChainContext], BuiltTx]


def _key(name: str) -> PaymentSigningKey:
    return PaymentSigningKey(hashlib.blake2b(f"chaining/{name}".encode(), digest_size=32).digest())


BUYER_KEY = _key("buyer")
BUYER = Actor(BUYER_KEY, Address(BUYER_KEY.to_verification_key().hash(), network=Network.TESTNET))
PAYEE = Address(_key("payee").to_verification_key().hash(), network=Network.TESTNET)


@dataclass
class World:
    devnet: DevnetServer
    http: httpx.Client
    chain: BlockfrostChain
    unit: str

    def block(self) -> list[str]:
        """Forge one block from the mempool; the hashes of its transactions."""
        self.http.post("/devnet/blocks", json={"count": 1}).raise_for_status()
        return list(self.devnet.ledger.tip().tx_hashes)

    def builders(self, context: PortChainContext) -> EscrowBuilders:
        ledger = self.devnet.ledger
        return EscrowBuilders(
            context, parties_contract(), devnet_slot_config(self.http), clock=lambda: ledger.now_ms
        )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    server = DevnetServer(DevnetConfig(port=0, block_time_s=None, seed="chaining-tests"))
    server.ledger.set_mode("manual", auto_block=False)  # blocks only on POST /devnet/blocks
    server.start()
    http = api_client(server.url)
    chain = BlockfrostChain(server.url + "/api", "chaining-tests")
    unit = usdm_unit(http)
    faucet(http, str(BUYER.address), 200 * ADA, {unit: 100_000_000})
    world = World(server, http, chain, unit)
    world.block()
    try:
        yield world
    finally:
        chain.close()
        http.close()
        server.stop()


@dataclass
class Seller:
    wallet: HotWallet
    actor: Actor


def seller_wallet(
    session: Session, box: SecretBox, world: World, *, collateral: bool = True
) -> Seller:
    """A Selling wallet holding one ADA UTxO (and a 5-ADA collateral UTxO), confirmed."""
    request = WalletCreate.model_validate({"type": "Selling"})
    wallet = service.add_wallet(session, box, load_profile("devnet"), request)
    faucet(world.http, wallet.address, 60 * ADA)
    if collateral:
        faucet(world.http, wallet.address, COLLATERAL_LOVELACE)
    world.block()
    return Seller(wallet, service.wallet_actor(box, wallet, 0))


def lock_escrows(world: World, seller: Seller, count: int) -> list[tuple[UTxO, str]]:
    """`count` escrows the buyer locks for this seller, confirmed: (escrow UTxO, request id)."""
    now = world.devnet.ledger.now_ms
    value = Value(0, multi_asset(world.unit, 2_000_000))
    requests = [
        sample_purchase(f"{seller.wallet.id}/{index}", seller.actor.address, now, value)
        for index in range(count)
    ]
    built = world.builders(PortChainContext(world.chain, 0)).lock(BUYER, requests)
    assert world.chain.submit(built.cbor) == built.tx_hash
    assert built.tx_hash in world.block()
    return [
        (UTxO(TransactionInput(built.tx.id, i), built.tx.transaction_body.outputs[i]), r.request_id)
        for i, r in enumerate(requests)
    ]


def submit_result(world: World, seller: Seller, escrow: UTxO, request_id: str) -> Builder:
    def build(context: PortChainContext) -> BuiltTx:
        result = hashlib.sha256(request_id.encode()).digest()
        return world.builders(context).submit_result(seller.actor, escrow, result, request_id)

    return build


def payment(seller: Seller, lovelace: int, ttl_slots: int = 600) -> Builder:
    def build(context: PortChainContext) -> BuiltTx:
        builder = TransactionBuilder(context)
        builder.add_input_address(seller.actor.address)
        builder.add_output(TransactionOutput(PAYEE, Value(lovelace)))
        builder.ttl = context.last_block_slot + ttl_slots
        tx = builder.build_and_sign([seller.actor.signing_key], seller.actor.address)
        spent = tuple(
            (i.transaction_id.payload.hex(), int(i.index)) for i in tx.transaction_body.inputs
        )
        return BuiltTx(tx, "Transfer", ("cd" * 32,), spent)

    return build


def spend(engine: Engine, world: World, seller: Seller, build: Builder) -> str:
    outcome = service.spend_from_wallet(
        engine, world.chain, seller.wallet.id, 0, build, lock_timeout_ms=LOCK_TIMEOUT_MS
    )
    assert outcome.status == "Submitted", outcome.error
    return outcome.tx_hash


def journal(engine: Engine, wallet_id: str) -> dict[str, WalletTransaction]:
    with Session(engine) as session:
        rows = session.exec(
            select(WalletTransaction).where(WalletTransaction.wallet_id == wallet_id)
        ).all()
    return {row.tx_hash: row for row in rows}


def signed(row: WalletTransaction) -> Transaction:
    return Transaction.from_cbor(row.signed_cbor)


def test_script_spends_and_payments_chain_into_one_block(
    engine: Engine, session: Session, secret_box: SecretBox, world: World
) -> None:
    seller = seller_wallet(session, secret_box, world)
    escrows = lock_escrows(world, seller, 3)
    before = world.chain.requests.snapshot()
    hashes = []
    for escrow, request_id in escrows:  # back to back, nothing confirmed in between
        hashes.append(
            spend(engine, world, seller, submit_result(world, seller, escrow, request_id))
        )
        hashes.append(spend(engine, world, seller, payment(seller, 2 * ADA)))
    assert world.devnet.ledger.mempool == hashes  # the devnet's mempool took every one
    after = world.chain.requests.snapshot()
    # the first result spends a confirmed UTxO; the others pay their fee from pending change,
    # which the evaluator (the ledger tip, like Blockfrost's) only knows from the request
    assert after.get(EVALUATE_UTXOS, 0) - before.get(EVALUATE_UTXOS, 0) == 2
    assert after.get(EVALUATE, 0) - before.get(EVALUATE, 0) == 1

    assert world.block() == hashes  # one block
    rows = journal(engine, seller.wallet.id)
    spent = [ref for row in rows.values() for ref in row.spent_inputs]
    assert len(spent) == len(set(spent))  # nothing spent twice
    txs = [signed(rows[tx_hash]) for tx_hash in hashes]
    chained = {  # the recorded hashes: pycardano re-encodes what it decodes (another id)
        (tx_hash, i)
        for tx_hash, tx in zip(hashes, txs, strict=True)
        for i in range(len(tx.transaction_body.outputs))
    }
    assert all(
        {(i.transaction_id.payload.hex(), i.index) for i in tx.transaction_body.inputs} & chained
        for tx in txs[1:]
    )  # each one after the first spends an output of an earlier one
    collaterals = {c for tx in txs[::2] for c in tx.transaction_body.collateral}
    assert len(collaterals) == 1  # the 5-ADA UTxO, confirmed, kept out of coin selection
    (collateral,) = collaterals
    assert all(collateral not in tx.transaction_body.inputs for tx in txs)
    for (escrow, _), tx in zip(escrows, txs[::2], strict=True):
        moved = UTxO(escrow.input, tx.transaction_body.outputs[0])
        assert escrow.input in tx.transaction_body.inputs
        assert datum_of(moved).current_state == State.RESULT_SUBMITTED
    # the next spend finds the wallet's change confirmed: no additional UTxO set needed
    hashes = [spend(engine, world, seller, payment(seller, 2 * ADA))]
    assert world.chain.requests.snapshot().get(EVALUATE_UTXOS, 0) == after.get(EVALUATE_UTXOS, 0)
    assert world.block() == hashes


def test_the_evaluator_sees_the_ledger_and_the_additional_set_only(
    engine: Engine, session: Session, secret_box: SecretBox, world: World
) -> None:
    seller = seller_wallet(session, secret_box, world)
    ((escrow, request_id),) = lock_escrows(world, seller, 1)
    spend(engine, world, seller, payment(seller, 2 * ADA))  # the change is pending now
    pending = service.pending_spends(engine, seller.wallet.id)
    context = PortChainContext(world.chain, 0)
    context.excluded, context.pending = pending.spent, pending.outputs
    built = submit_result(world, seller, escrow, request_id)(context)
    extra = context.unconfirmed_inputs(built.tx)
    assert extra and {u.input for u in extra} <= set(built.tx.transaction_body.inputs)
    with pytest.raises(TransactionRejected, match="unknown or already spent"):
        world.chain.evaluate(built.cbor)  # the plain endpoint does not look in the mempool
    units = world.chain.evaluate(built.cbor, extra)
    assert len(units) == 1  # the escrow's redeemer
    world.block()  # the change is confirmed: sent again, it overlaps the ledger
    before = world.chain.requests.snapshot()
    assert world.chain.evaluate(built.cbor, extra) == units  # dropped and asked again
    after = world.chain.requests.snapshot()
    assert after[EVALUATE_UTXOS] - before.get(EVALUATE_UTXOS, 0) == 1
    assert after[EVALUATE] - before.get(EVALUATE, 0) == 1
    answer = world.http.post(
        "/api/v0/utils/txs/evaluate/utxos",
        json={"cbor": built.cbor.hex(), "additionalUtxoSet": [[{"txId": "ab", "index": 0}, {}]]},
    )
    assert answer.status_code == 400 and "additionalUtxoSet[0]" in answer.json()["message"]


def test_an_expired_parent_takes_its_children_and_nothing_is_spent_twice(
    engine: Engine, session: Session, secret_box: SecretBox, world: World
) -> None:
    seller = seller_wallet(session, secret_box, world, collateral=False)  # one UTxO: a chain
    parent = spend(engine, world, seller, payment(seller, 2 * ADA, ttl_slots=30))
    child = spend(engine, world, seller, payment(seller, 3 * ADA))
    grandchild = spend(engine, world, seller, payment(seller, 4 * ADA))
    rows = journal(engine, seller.wallet.id)
    assert any(ref.startswith(parent) for ref in rows[child].spent_inputs)
    assert any(ref.startswith(child) for ref in rows[grandchild].spent_inputs)
    # the parent never makes it into a block before its TTL: the mempool drops it, and the
    # children with it (their inputs are gone)
    world.http.post("/devnet/time", json={"advance_seconds": 60}).raise_for_status()
    assert world.block() == []
    retry = spend(engine, world, seller, payment(seller, 2 * ADA))  # settles the journal first
    rows = journal(engine, seller.wallet.id)
    assert rows[parent].status == TxStatus.EXPIRED
    assert rows[child].status == rows[grandchild].status == TxStatus.EXPIRED
    assert rows[child].last_error == f"spends an output of {parent}, which was expired"
    assert rows[grandchild].last_error == f"spends an output of {child}, which was expired"
    offered = service.pending_spends(engine, seller.wallet.id).outputs
    assert offered and {tx_id.hex() for tx_id, _ in offered} == {retry}  # none of the expired
    assert set(rows[retry].spent_inputs) == set(rows[parent].spent_inputs)  # freed again
    assert world.block() == [retry]
    for tx_hash in (parent, child, grandchild):
        assert world.http.get(f"/api/v0/txs/{tx_hash}").status_code == 404
