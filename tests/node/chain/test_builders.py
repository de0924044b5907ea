"""Every escrow builder's transaction, accepted by a devnet over HTTP through the chain port, and
the rules the contract needs checked from the decoded transaction."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

import httpx
import pytest
from pycardano import Transaction, TransactionBuilder, TransactionInput, Value

from contracts.datums import EscrowDatum, OutputReference, State
from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import MIN_COLLATERAL_RETURN, BuildError, EscrowBuilders, datum_of
from node.chain.context import PortChainContext
from tests.devnet.http_helpers import usdm_unit
from tests.node.chain.escrow_world import (
    ADA,
    ADMINS,
    BUYER,
    COOLDOWN_MS,
    FEE,
    HOUR_MS,
    SELLER,
    Escrow,
    devnet_slot_config,
    fund_parties,
    parties_contract,
)


@pytest.fixture(scope="module")
def escrow(chain_devnet: DevnetServer, devnet_http: httpx.Client) -> Iterator[Escrow]:
    unit = usdm_unit(devnet_http)
    fund_parties(devnet_http, unit, 200 * ADA, 100_000_000)
    chain = BlockfrostChain(chain_devnet.url + "/api", "builders")
    builders = EscrowBuilders(
        PortChainContext(chain, 0),
        parties_contract(),
        devnet_slot_config(devnet_http),
        clock=lambda: chain_devnet.ledger.now_ms,
    )
    yield Escrow(builders, chain, chain_devnet, devnet_http, unit)
    chain.close()


def message(tx: Transaction) -> list[str]:
    metadata = tx.auxiliary_data.data.metadata
    msg: list[str] = metadata[674]["msg"]
    return msg


def test_batched_lock_pays_each_purchase_with_its_datum(escrow: Escrow) -> None:
    first, second = escrow.purchase("lock-1"), escrow.purchase("lock-2", usdm=3_000_000)
    built = escrow.builders.lock(BUYER, [first, second])
    tx = escrow.submit(built)
    outputs = tx.transaction_body.outputs[:2]
    assert [out.address for out in outputs] == [escrow.builders.contract.address] * 2
    for out, purchase in zip(outputs, (first, second), strict=True):
        datum = EscrowDatum.from_cbor(out.datum.to_cbor())
        assert datum.current_state == State.FUNDS_LOCKED
        assert datum.collateral_return_lovelace == out.amount.coin >= MIN_COLLATERAL_RETURN
        assert out.amount.multi_asset == purchase.value.multi_asset
        assert datum.input_hash == purchase.datum.input_hash
    assert message(tx) == ["Masumi", "PaymentBatched"]  # Masumi's; the ids are in the datums
    assert built.request_ids == (first.request_id, second.request_id)
    start, ttl = tx.transaction_body.validity_start, tx.transaction_body.ttl
    assert escrow.builders.slots.slot_to_posix_ms(ttl) < first.datum.pay_by_time
    assert start < ttl


def test_result_then_collection_with_fee_and_collateral_return(escrow: Escrow) -> None:
    purchase = escrow.purchase("collect")
    lock = escrow.submit(escrow.builders.lock(BUYER, [purchase]))
    result = hashlib.sha256(b"the result").digest()
    submitted = escrow.submit(
        escrow.builders.submit_result(SELLER, escrow.escrow_utxo(lock), result, purchase.request_id)
    )
    datum = datum_of(escrow.escrow_utxo(submitted))
    assert datum.current_state == State.RESULT_SUBMITTED and datum.result == result
    upper = escrow.builders.slots.slot_to_posix_ms(submitted.transaction_body.ttl)
    assert datum.seller_cooldown_time >= upper + COOLDOWN_MS
    assert SELLER.key_hash in submitted.transaction_body.required_signers
    assert message(submitted) == ["Masumi", "SubmitResult"]
    with pytest.raises(BuildError, match="too early"):
        escrow.builders.withdraw(SELLER, escrow.escrow_utxo(submitted), purchase.request_id)
    escrow.advance(3 * HOUR_MS)
    refund = Value(0, escrow.usdm(4_000_000))  # a metered charge of 6 of the 10 USDM reserved
    collected = escrow.submit(
        escrow.builders.withdraw(
            SELLER, escrow.escrow_utxo(submitted), purchase.request_id, returned_to_buyer=refund
        )
    )
    tag = OutputReference.of(TransactionInput(submitted.id, 0))
    outs = collected.transaction_body.outputs
    fee_out = next(out for out in outs if out.address == FEE.address)
    assert fee_out.datum.to_cbor() == tag.to_cbor()
    assert fee_out.amount.multi_asset == escrow.usdm(500_000)  # 5 % of the 10 USDM locked
    buyer_out = next(out for out in outs if out.address == BUYER.address and out.datum is not None)
    assert buyer_out.amount.coin >= datum.collateral_return_lovelace
    assert buyer_out.amount.multi_asset == escrow.usdm(4_000_000)


def test_refund_request_dispute_authorize_and_withdraw_refund(escrow: Escrow) -> None:
    purchase = escrow.purchase("dispute")
    lock = escrow.submit(escrow.builders.lock(BUYER, [purchase]))
    result = hashlib.sha256(b"disputed result").digest()
    submitted = escrow.submit(
        escrow.builders.submit_result(SELLER, escrow.escrow_utxo(lock), result, purchase.request_id)
    )
    disputed = escrow.submit(
        escrow.builders.set_refund_requested(
            BUYER, escrow.escrow_utxo(submitted), purchase.request_id
        )
    )
    assert datum_of(escrow.escrow_utxo(disputed)).current_state == State.DISPUTED
    # the buyer's action cleared the seller's cooldown: the seller may answer at once
    authorized = escrow.submit(
        escrow.builders.authorize_refund(SELLER, escrow.escrow_utxo(disputed), purchase.request_id)
    )
    after = datum_of(escrow.escrow_utxo(authorized))
    assert after.current_state == State.REFUND_REQUESTED and after.result == b""
    escrow.advance(2 * HOUR_MS)
    refunded = escrow.submit(
        escrow.builders.withdraw_refund(BUYER, escrow.escrow_utxo(authorized), purchase.request_id)
    )
    back = [out for out in refunded.transaction_body.outputs if out.address == BUYER.address]
    assert any(out.amount.multi_asset == escrow.usdm(10_000_000) for out in back)
    assert message(refunded) == ["Masumi", "CollectRefund"]


def test_cancel_refund_request(escrow: Escrow) -> None:
    purchase = escrow.purchase("cancel")
    lock = escrow.submit(escrow.builders.lock(BUYER, [purchase]))
    requested = escrow.submit(
        escrow.builders.set_refund_requested(BUYER, escrow.escrow_utxo(lock), purchase.request_id)
    )
    assert datum_of(escrow.escrow_utxo(requested)).current_state == State.REFUND_REQUESTED
    with pytest.raises(BuildError, match="too early"):  # the buyer's own cooldown runs
        escrow.builders.unset_refund_requested(
            BUYER, escrow.escrow_utxo(requested), purchase.request_id
        )
    escrow.advance(COOLDOWN_MS + 20 * 60_000)
    cancelled = escrow.submit(
        escrow.builders.unset_refund_requested(
            BUYER, escrow.escrow_utxo(requested), purchase.request_id
        )
    )
    assert datum_of(escrow.escrow_utxo(cancelled)).current_state == State.FUNDS_LOCKED


def test_admins_settle_a_dispute(escrow: Escrow) -> None:
    purchase = escrow.purchase("admins")
    lock = escrow.submit(escrow.builders.lock(BUYER, [purchase]))
    result = hashlib.sha256(b"contested").digest()
    submitted = escrow.submit(
        escrow.builders.submit_result(SELLER, escrow.escrow_utxo(lock), result, purchase.request_id)
    )
    disputed = escrow.submit(
        escrow.builders.set_refund_requested(
            BUYER, escrow.escrow_utxo(submitted), purchase.request_id
        )
    )
    utxo = escrow.escrow_utxo(disputed)
    with pytest.raises(BuildError, match="too early"):
        escrow.builders.withdraw_disputed(
            ADMINS[:2], utxo, purchase.request_id, to_buyer=Value(2 * ADA), to_seller=Value(2 * ADA)
        )
    escrow.advance(4 * HOUR_MS)
    locked = utxo.output.amount
    half = Value(locked.coin // 2, escrow.usdm(5_000_000))
    settled = escrow.submit(
        escrow.builders.withdraw_disputed(
            ADMINS[:2], utxo, purchase.request_id, to_buyer=half, to_seller=locked - half
        )
    )
    signers = settled.transaction_body.required_signers
    assert {ADMINS[0].key_hash, ADMINS[1].key_hash} <= set(signers)


def test_wrong_state_is_refused_before_building(escrow: Escrow) -> None:
    purchase = escrow.purchase("wrong-state")
    lock = escrow.submit(escrow.builders.lock(BUYER, [purchase]))
    with pytest.raises(BuildError, match="FUNDS_LOCKED"):
        escrow.builders.authorize_refund(SELLER, escrow.escrow_utxo(lock), purchase.request_id)
    with pytest.raises(BuildError, match="FUNDS_LOCKED"):
        escrow.builders.withdraw(SELLER, escrow.escrow_utxo(lock), purchase.request_id)


def test_a_script_spend_takes_its_collateral_from_an_ada_only_utxo(escrow: Escrow) -> None:
    # the seller's largest UTxO carries a token (an agent NFT would): never the collateral
    # while an ADA-only one exists
    for funding in ({"lovelace": 900 * ADA, "assets": {escrow.unit: 1}}, {"lovelace": 20 * ADA}):
        answer = escrow.http.post(
            "/devnet/faucet", json={"address": str(SELLER.address), **funding}
        )
        assert answer.status_code == 200, answer.text
    purchase = escrow.purchase("collateral")
    lock = escrow.submit(escrow.builders.lock(BUYER, [purchase]))
    context = escrow.builders.context  # all it holds: utxos() keeps the collateral apart
    held = {utxo.input: utxo.output for utxo in context.confirmed_utxos(SELLER.address)}
    assert any(out.amount.multi_asset and out.amount.coin >= 900 * ADA for out in held.values())
    built = escrow.builders.submit_result(
        SELLER, escrow.escrow_utxo(lock), hashlib.sha256(b"r").digest(), purchase.request_id
    )
    collateral = list(built.tx.transaction_body.collateral)
    assert collateral and all(not held[txin].amount.multi_asset for txin in collateral)
    escrow.submit(built)


def test_pycardano_build_failures_do_not_dump_the_builder_into_the_log(
    escrow: Escrow, caplog: pytest.LogCaptureFixture
) -> None:
    builder = TransactionBuilder(escrow.builders.context)
    with caplog.at_level(logging.DEBUG), pytest.raises(Exception):  # noqa: B017  (pycardano's own)
        builder.build(change_address=BUYER.address)  # no inputs: pycardano refuses
    assert not [record for record in caplog.records if record.name == "PyCardano"]
