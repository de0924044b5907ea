"""The ledger as a whole: pycardano-built transfers and mints, concurrency, blocks and mempool,
rollbacks, persistence, the faucet and the query methods."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cbor2
import pytest
from pycardano import (
    AlonzoMetadata,
    Asset,
    AssetName,
    AuxiliaryData,
    InvalidHereAfter,
    Metadata,
    MultiAsset,
    ScriptAll,
    ScriptPubkey,
    TransactionBuilder,
    TransactionOutput,
    Value,
)

from devnet import phase1
from devnet.context import LedgerChainContext
from devnet.errors import LedgerError, LedgerRejection, NotFound
from devnet.ledger import Ledger
from devnet.phase1 import TxIn
from tests.devnet.ledger_helpers import (
    ADA,
    ALICE,
    BOB,
    CAROL,
    GENESIS,
    PARAMS,
    balanced_tx,
    new_ledger,
    transfer,
)


@pytest.fixture
def ledger() -> Ledger:
    return new_ledger()


def balance(ledger: Ledger, address: str, unit: str = "lovelace") -> int:
    return sum(a.quantity for u in ledger.utxos_at(address) for a in u.amount if a.unit == unit)


def build(ledger: Ledger, sender: Any, outputs: list[TransactionOutput], **extra: Any) -> bytes:
    builder = TransactionBuilder(LedgerChainContext(ledger))
    builder.add_input_address(sender.address)
    for output in outputs:
        builder.add_output(output)
    for name, value in extra.items():
        setattr(builder, name, value)
    tx = builder.build_and_sign([sender.signing_key], change_address=sender.address)
    return bytes(tx.to_cbor())


# ---------------------------------------------------------------------------------------------
# Valid transactions built by pycardano


def test_genesis_is_deterministic_and_funded(ledger: Ledger) -> None:
    assert new_ledger().utxo_snapshot() == ledger.utxo_snapshot()
    assert ledger.tip().height == 0
    assert balance(ledger, ALICE.bech32) == 1_000 * ADA
    assert ledger.usdm_unit.endswith("0014df105553444d")
    wallet = str(ledger.genesis.wallet_address)
    assert balance(ledger, wallet, ledger.usdm_unit) == GENESIS.usdm_supply
    assert ledger.asset(ledger.usdm_unit).quantity == GENESIS.usdm_supply


def test_ada_transfer(ledger: Ledger) -> None:
    tx = build(ledger, ALICE, [TransactionOutput(BOB.address, 25 * ADA)])
    tx_hash = ledger.submit(tx)
    fee = phase1.decode_transaction(tx).fee
    assert balance(ledger, BOB.bech32) == 1_025 * ADA
    assert balance(ledger, ALICE.bech32) == 975 * ADA - fee
    assert ledger.tip().height == 1 and ledger.tip().tx_hashes == (tx_hash,)
    assert ledger.mempool == []
    view = ledger.transaction(tx_hash)
    assert (view.block_height, view.index, view.fees, view.size) == (1, 0, fee, len(tx))


def test_native_token_transfer(ledger: Ledger) -> None:
    usdm = ledger.usdm_unit
    ledger.faucet(ALICE.bech32, 10 * ADA, {usdm: 1_000_000})
    policy, name = bytes.fromhex(usdm[:56]), bytes.fromhex(usdm[56:])
    tokens = MultiAsset.from_primitive({policy: {name: 400_000}})
    tx = build(ledger, ALICE, [TransactionOutput(BOB.address, Value(2 * ADA, tokens))])
    tx_hash = ledger.submit(tx)
    assert balance(ledger, BOB.bech32, usdm) == 400_000
    assert balance(ledger, ALICE.bech32, usdm) == 600_000
    holders = {h.address: h.quantity for h in ledger.asset_holders(usdm)}
    assert holders[BOB.bech32] == 400_000 and holders[ALICE.bech32] == 600_000
    assert tx_hash in [t.tx_hash for t in ledger.asset_transactions(usdm)]
    assert [u.tx_hash for u in ledger.asset_utxos_at(BOB.bech32, usdm)] == [tx_hash]


def test_native_script_mint_with_cip25_metadata(ledger: Ledger) -> None:
    policy_script = ScriptAll([ScriptPubkey(ALICE.signing_key.to_verification_key().hash())])
    policy_id = policy_script.hash()
    name = AssetName(b"agent-001")
    minted = MultiAsset({policy_id: Asset({name: 1})})
    unit = policy_id.payload.hex() + b"agent-001".hex()
    cip25 = {721: {policy_id.payload.hex(): {"agent-001": {"name": "Agent 1"}}}}
    builder = TransactionBuilder(LedgerChainContext(ledger))
    builder.add_input_address(ALICE.address)
    builder.mint = minted
    builder.native_scripts = [policy_script]
    builder.auxiliary_data = AuxiliaryData(AlonzoMetadata(metadata=Metadata(cip25)))
    builder.add_output(TransactionOutput(BOB.address, Value(2 * ADA, minted)))
    tx = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    tx_hash = ledger.submit(bytes(tx.to_cbor()))
    asset = ledger.asset(unit)
    assert (asset.quantity, asset.mint_or_burn_count, asset.initial_mint_tx_hash) == (1, 1, tx_hash)
    assert asset.onchain_metadata == {"name": "Agent 1"}
    assert asset.fingerprint.startswith("asset1")
    assert [a.address for a in ledger.policy_assets(policy_id.payload.hex())] == [unit]
    assert ledger.asset_history(unit)[0].action == "minted"
    script = ledger.script(policy_id.payload.hex())
    assert script.type == "timelock" and script.serialised_size is None
    assert ledger.label_transactions(721)[0].tx_hash == tx_hash
    (meta,) = ledger.transaction_metadata(tx_hash)
    assert meta.label == "721" and cbor2.loads(bytes.fromhex(meta.cbor_metadata))


def test_time_locked_native_mint_via_builder(ledger: Ledger) -> None:
    vkh = ALICE.signing_key.to_verification_key().hash()
    policy = ScriptAll([ScriptPubkey(vkh), InvalidHereAfter(1_000)])
    minted = MultiAsset({policy.hash(): Asset({AssetName(b"T"): 7})})
    tx = build(
        ledger,
        ALICE,
        [TransactionOutput(ALICE.address, Value(2 * ADA, minted))],
        mint=minted,
        native_scripts=[policy],
        ttl=900,
    )
    ledger.submit(tx)
    ledger.advance_time(1_000)
    late = build(
        ledger,
        ALICE,
        [TransactionOutput(ALICE.address, Value(2 * ADA, minted))],
        mint=minted,
        native_scripts=[policy],
        ttl=1_100,
    )
    with pytest.raises(LedgerRejection) as caught:
        ledger.submit(late)
    assert caught.value.rule == "native-script"


# ---------------------------------------------------------------------------------------------
# Concurrency


def test_concurrent_double_spend_accepts_exactly_one(ledger: Ledger) -> None:
    first = transfer(ledger, ALICE, BOB.address_bytes, 10 * ADA)
    second = transfer(ledger, ALICE, CAROL.address_bytes, 10 * ADA)  # same input
    assert first != second
    results: list[str] = []
    barrier = threading.Barrier(2)

    def submit(tx: bytes) -> None:
        barrier.wait()
        try:
            ledger.submit(tx)
            results.append("ok")
        except LedgerRejection as exc:
            results.append(exc.rule)

    threads = [threading.Thread(target=submit, args=(tx,)) for tx in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["inputs-exist", "ok"]
    assert ledger.tip().height == 1


# ---------------------------------------------------------------------------------------------
# Mempool, blocks, rollback


def test_manual_blocks_and_chained_mempool() -> None:
    ledger = new_ledger(auto_block=False)
    first = transfer(ledger, ALICE, BOB.address_bytes, 10 * ADA)
    first_hash = ledger.submit(first)
    # Spend the change of the queued tx before it is in a block.
    change = TxIn(bytes.fromhex(first_hash), 1)
    second = ledger.submit(transfer(ledger, ALICE, CAROL.address_bytes, 5 * ADA, inputs=[change]))
    assert ledger.mempool == [first_hash, second]
    assert balance(ledger, BOB.bech32) == 1_000 * ADA  # not in a block yet
    (block,) = ledger.produce_blocks(1)
    assert block.tx_hashes == (first_hash, second) and ledger.mempool == []
    assert balance(ledger, CAROL.bech32) == 55 * ADA


def test_expired_mempool_tx_is_dropped_at_the_next_block() -> None:
    ledger = new_ledger(auto_block=False)
    ledger.submit(transfer(ledger, ALICE, BOB.address_bytes, 10 * ADA, extra_body={3: 5}))
    ledger.advance_time(10)
    (block,) = ledger.produce_blocks(1)
    assert block.tx_hashes == () and ledger.mempool == []


def chain_of(ledger: Ledger, count: int) -> tuple[list[dict[TxIn, bytes]], list[str]]:
    """`count` blocks of one transfer each; the UTxO snapshot before each and the tx hashes."""
    snapshots, hashes = [], []
    for i in range(count):
        snapshots.append(ledger.utxo_snapshot())
        ledger.advance_time(20)
        hashes.append(ledger.submit(transfer(ledger, ALICE, BOB.address_bytes, (i + 2) * ADA)))
    return snapshots, hashes


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_rollback_restores_the_utxo_set_and_requeues(ledger: Ledger, depth: int) -> None:
    snapshots, hashes = chain_of(ledger, 3)
    final = ledger.utxo_snapshot()
    history = ledger.address_transactions(BOB.bech32)
    undone = ledger.rollback(depth)
    assert undone == hashes[3 - depth :]
    assert ledger.utxo_snapshot() == snapshots[3 - depth]
    assert ledger.tip().height == 3 - depth
    assert ledger.mempool == hashes[3 - depth :]
    assert ledger.address_transactions(BOB.bech32) == history[: 3 - depth]
    with pytest.raises(NotFound):
        ledger.transaction(hashes[-1])
    (block,) = ledger.produce_blocks(1)  # re-validated and applied again
    assert list(block.tx_hashes) == hashes[3 - depth :]
    assert ledger.utxo_snapshot() == final


def test_rollback_with_drop_discards_the_transactions(ledger: Ledger) -> None:
    snapshots, _ = chain_of(ledger, 2)
    ledger.rollback(2, drop=True)
    assert ledger.mempool == []
    ledger.produce_blocks(1)
    assert ledger.utxo_snapshot() == snapshots[0]


def test_rollback_cannot_undo_genesis(ledger: Ledger) -> None:
    with pytest.raises(LedgerError):
        ledger.rollback(1)


def test_rollback_undoes_mints_and_holders(ledger: Ledger) -> None:
    usdm = ledger.usdm_unit
    holders = ledger.asset_holders(usdm)
    ledger.faucet(ALICE.bech32, 5 * ADA, {usdm: 10})
    ledger.rollback(1, drop=True)
    assert ledger.asset_holders(usdm) == holders


# ---------------------------------------------------------------------------------------------
# Persistence


def test_save_load_round_trip_and_continue(ledger: Ledger, tmp_path: Path) -> None:
    chain_of(ledger, 3)
    ledger.faucet(CAROL.bech32, 7 * ADA, {ledger.usdm_unit: 5})
    pending = transfer(ledger, BOB, ALICE.address_bytes, 3 * ADA)
    ledger.auto_block = False
    ledger.submit(pending)
    path = tmp_path / "state.json"
    ledger.save(str(path))
    loaded = Ledger.load(str(path))
    assert loaded.utxo_snapshot() == ledger.utxo_snapshot()
    assert loaded.tip() == ledger.tip()
    assert loaded.now_ms == ledger.now_ms
    assert loaded.mempool == ledger.mempool
    assert loaded.asset(ledger.usdm_unit) == ledger.asset(ledger.usdm_unit)
    assert loaded.address_transactions(BOB.bech32) == ledger.address_transactions(BOB.bech32)
    for chain in (ledger, loaded):
        chain.produce_blocks(1)
        chain.auto_block = True
        chain.submit(transfer(chain, CAROL, BOB.address_bytes, 2 * ADA))
    assert loaded.utxo_snapshot() == ledger.utxo_snapshot()
    assert loaded.tip() == ledger.tip()


# ---------------------------------------------------------------------------------------------
# Clock, realtime, queries, evaluate


def test_manual_clock_moves_only_on_request(ledger: Ledger) -> None:
    assert ledger.current_slot == 0 and ledger.now_ms == GENESIS.system_start_ms
    assert ledger.advance_time(42) == 42
    assert ledger.now_ms == GENESIS.system_start_ms + 42_000
    ledger.submit(transfer(ledger, ALICE, BOB.address_bytes, 2 * ADA))
    tip = ledger.tip()
    assert (tip.slot, tip.time_ms) == (42, GENESIS.system_start_ms + 42_000)


def test_realtime_tick_makes_blocks_from_the_mempool() -> None:
    ledger = Ledger(PARAMS, GENESIS, mode="realtime")  # genesis in 2025: slots are large
    tx_hash = ledger.submit(transfer(ledger, ALICE, BOB.address_bytes, 2 * ADA))
    assert ledger.mempool == [tx_hash]
    block = ledger.tick()
    assert block is not None and block.tx_hashes == (tx_hash,)
    assert ledger.tick() is None or ledger.tip().slot > block.slot


def test_block_queries(ledger: Ledger) -> None:
    _, hashes = chain_of(ledger, 2)
    view = ledger.block(1)
    assert view.block.tx_hashes == (hashes[0],)
    assert view.confirmations == 1 and view.next_hash == ledger.tip().hash
    assert ledger.block(view.block.hash) == view
    with pytest.raises(NotFound):
        ledger.block(99)


def test_transaction_utxos_and_consumption(ledger: Ledger) -> None:
    _, (first, second) = chain_of(ledger, 2)
    utxos = ledger.transaction_utxos(first)
    assert utxos.inputs[0].address == ALICE.bech32
    change = utxos.outputs[1]
    assert change.consumed_by_tx == second
    assert utxos.outputs[0].consumed_by_tx is None
    assert ledger.transaction_cbor(first)


def test_inline_datum_and_reference_script_are_indexed(ledger: Ledger) -> None:
    datum = cbor2.dumps(cbor2.CBORTag(121, [b"\x01"]))
    script = bytes.fromhex("4e4d01000033222220051200120011")
    script_ref = cbor2.CBORTag(24, cbor2.dumps([3, script]))
    output = {0: BOB.address_bytes, 1: 20 * ADA, 2: [1, cbor2.CBORTag(24, datum)], 3: script_ref}
    tx_hash = ledger.submit(balanced_tx(ledger, ALICE, [output]))
    datum_hash = phase1.blake2b_256(datum).hex()
    assert ledger.datum(datum_hash) == datum
    (utxo,) = [u for u in ledger.utxos_at(BOB.bech32) if u.tx_hash == tx_hash]
    assert utxo.inline_datum == datum.hex() and utxo.data_hash == datum_hash
    view = ledger.script(utxo.reference_script_hash or "")
    assert view.type == "plutusV3" and view.serialised_size == len(script)


def test_faucet_pays_with_a_real_transaction(ledger: Ledger) -> None:
    tx_hash = ledger.faucet(CAROL.bech32, 12 * ADA, {ledger.usdm_unit: 3_000_000})
    assert balance(ledger, CAROL.bech32) == 62 * ADA
    assert balance(ledger, CAROL.bech32, ledger.usdm_unit) == 3_000_000
    assert ledger.transaction(tx_hash).fees > 0


def test_faucet_chains_on_the_mempool_in_realtime_mode() -> None:
    ledger = Ledger(PARAMS, GENESIS, mode="realtime")
    first = ledger.faucet(CAROL.bech32, 2 * ADA)
    second = ledger.faucet(BOB.bech32, 3 * ADA)
    assert ledger.mempool == [first, second]


def test_evaluate_ignores_missing_witnesses(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []

    class FakePhase2:
        class Phase2Error(Exception):
            pass

        @staticmethod
        def evaluate_transaction(tx: Any, **kwargs: Any) -> list[Any]:
            calls.append(kwargs["max_budget"])
            return []

    import sys

    monkeypatch.setitem(sys.modules, "devnet.phase2", FakePhase2)
    monkeypatch.setattr(Ledger, "slot_config", property(lambda self: None))
    unsigned = transfer(ledger, ALICE, BOB.address_bytes, 2 * ADA, signers=[])
    assert ledger.evaluate(unsigned) == []
    assert calls == [(PARAMS.max_tx_ex_mem, PARAMS.max_tx_ex_steps)]


# ---------------------------------------------------------------------------------------------
# Plutus end to end: pycardano builds (evaluating through the ledger), phase 1 + phase 2 accept

SCRIPTS = Path(__file__).parent / "scripts"


def v3_script(name: str) -> Any:
    from pycardano import PlutusV3Script

    return PlutusV3Script(bytes.fromhex((SCRIPTS / f"{name}.v3.cbor.hex").read_text().strip()))


@pytest.fixture
def plutus_ledger() -> Ledger:
    pytest.importorskip("devnet.phase2")
    return new_ledger()


def test_plutus_mint_end_to_end(plutus_ledger: Ledger) -> None:
    from pycardano import Redeemer

    ledger = plutus_ledger
    policy = v3_script("mint_exact")
    from pycardano import plutus_script_hash

    minted = MultiAsset({plutus_script_hash(policy): Asset({AssetName(b"T"): 5})})
    builder = TransactionBuilder(LedgerChainContext(ledger))
    builder.add_input_address(ALICE.address)
    builder.mint = minted
    builder.add_minting_script(policy, redeemer=Redeemer(5))
    builder.add_output(TransactionOutput(BOB.address, Value(2 * ADA, minted)))
    tx = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    tx_hash = ledger.submit(bytes(tx.to_cbor()))
    (redeemer,) = ledger.transaction_redeemers(tx_hash)
    assert redeemer.purpose == "mint" and redeemer.unit_mem > 0 and redeemer.fee > 0
    assert redeemer.script_hash == plutus_script_hash(policy).payload.hex()
    assert ledger.script(redeemer.script_hash or "").type == "plutusV3"


def test_plutus_script_failure_is_rejected_as_phase2(plutus_ledger: Ledger) -> None:
    from pycardano import ExecutionUnits, Redeemer, plutus_script_hash

    ledger = plutus_ledger
    policy = v3_script("mint_exact")
    minted = MultiAsset({plutus_script_hash(policy): Asset({AssetName(b"T"): 5})})
    builder = TransactionBuilder(LedgerChainContext(ledger))
    builder.add_input_address(ALICE.address)
    builder.mint = minted
    # redeemer 6 but 5 minted: the policy fails; budget given so pycardano does not evaluate
    builder.add_minting_script(policy, redeemer=Redeemer(6, ExecutionUnits(2_000_000, 900_000_000)))
    builder.add_output(TransactionOutput(BOB.address, Value(2 * ADA, minted)))
    tx = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    before = ledger.utxo_snapshot()
    with pytest.raises(LedgerRejection) as caught:
        ledger.submit(bytes(tx.to_cbor()))
    assert caught.value.rule == "phase2"
    assert ledger.utxo_snapshot() == before


def test_plutus_v3_spend_without_datum_via_reference_script(plutus_ledger: Ledger) -> None:
    from pycardano import Address, Network, Redeemer, plutus_script_hash

    ledger = plutus_ledger
    window = v3_script("window")
    script_addr = Address(plutus_script_hash(window), network=Network.TESTNET)
    # A reference-script UTxO at BOB and a datum-less UTxO at the script.
    deploy = build(
        ledger,
        BOB,
        [TransactionOutput(BOB.address, 30 * ADA, script=window)],
    )
    ref_hash = ledger.submit(deploy)
    ledger.submit(build(ledger, ALICE, [TransactionOutput(script_addr, 10 * ADA)]))
    ledger.advance_time(100)
    context = LedgerChainContext(ledger)
    locked = context.utxos(script_addr)[0]
    ref_utxo = next(
        u for u in context.utxos(BOB.address) if str(u.input.transaction_id) == ref_hash
    )
    moment = ledger.slot_to_ms(105)
    builder = TransactionBuilder(context)
    builder.add_script_input(locked, script=ref_utxo, redeemer=Redeemer(moment))
    builder.add_input_address(ALICE.address)
    builder.validity_start, builder.ttl = 100, 110
    builder.add_output(TransactionOutput(ALICE.address, 5 * ADA))
    tx = builder.build_and_sign([ALICE.signing_key], change_address=ALICE.address)
    tx_hash = ledger.submit(bytes(tx.to_cbor()))
    assert ledger.transaction(tx_hash).redeemer_count == 1
    assert not context.utxos(script_addr)
