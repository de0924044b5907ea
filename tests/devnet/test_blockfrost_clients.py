"""pycardano's BlockFrostChainContext and blockfrost-python, unchanged, against the devnet.

The session's `story` fixture builds, signs and submits through pycardano over HTTP a USDM
transfer with a message, a native-script mint and a Plutus V3 lock and claim (the claim's
budget comes from /utils/txs/evaluate); these tests read all of it back through the API.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pycardano import (
    Address,
    ExecutionUnits,
    Network,
    Redeemer,
    TransactionBuilder,
    TransactionFailedException,
    TransactionOutput,
    plutus_script_hash,
)

from tests.devnet.http_helpers import (
    ADA,
    ESCROW,
    MESSAGE,
    ChainStory,
    blockfrost_api,
    chain_context,
    current_slot,
    funded_wallet,
)
from tests.devnet.phase2_helpers import Claim, EscrowDatum


def _quantity(amounts: list[Any], unit: str) -> int:
    return sum(int(a.quantity) for a in amounts if a.unit == unit)


def test_pycardano_sees_the_transfer_and_the_claim(devnet_url: str, story: ChainStory) -> None:
    context = chain_context(devnet_url)
    bob_utxos = context.utxos(story.bob.bech32)
    assert len(bob_utxos) == 1
    assert bob_utxos[0].output.amount.coin == 2 * ADA
    assert str(bob_utxos[0].input.transaction_id) == story.transfer_tx
    escrow_utxos = context.utxos(story.escrow_address)
    assert all(str(u.input.transaction_id) != story.lock_tx for u in escrow_utxos)


def test_blockfrost_python_reads_utxos_and_transactions(devnet_url: str, story: ChainStory) -> None:
    api = blockfrost_api(devnet_url)
    bob = api.address_utxos(story.bob.bech32)
    assert _quantity(bob[0].amount, story.usdm_unit) == 250
    assert (
        api.address_utxos_asset(story.bob.bech32, story.usdm_unit)[0].tx_hash == story.transfer_tx
    )
    history = [t.tx_hash for t in api.address_transactions(story.alice.bech32)]
    for tx_hash in (story.transfer_tx, story.mint_tx, story.lock_tx, story.spend_tx):
        assert tx_hash in history
    tx = api.transaction(story.spend_tx)
    assert (tx.redeemer_count, tx.valid_contract) == (1, True)
    assert int(tx.invalid_before) < int(tx.invalid_hereafter)
    assert api.transaction_cbor(story.spend_tx).cbor


def test_tx_utxos_show_the_inline_datum_and_its_consumer(
    devnet_url: str, story: ChainStory
) -> None:
    api = blockfrost_api(devnet_url)
    lock = api.transaction_utxos(story.lock_tx)
    at_script = [o for o in lock.outputs if o.address == story.escrow_address]
    assert len(at_script) == 1
    assert at_script[0].inline_datum is not None
    assert at_script[0].data_hash == story.lock_datum_hash
    assert at_script[0].consumed_by_tx == story.spend_tx
    spend = api.transaction_utxos(story.spend_tx)
    spent = [i for i in spend.inputs if i.tx_hash == story.lock_tx and not i.collateral]
    assert spent and spent[0].inline_datum == at_script[0].inline_datum
    assert any(i.collateral for i in spend.inputs)


def test_redeemers_metadata_and_datum(devnet_url: str, story: ChainStory) -> None:
    api = blockfrost_api(devnet_url)
    (redeemer,) = api.transaction_redeemers(story.spend_tx)
    assert (redeemer.purpose, redeemer.tx_index) == ("spend", 0)
    assert redeemer.script_hash == story.escrow_hash
    assert int(redeemer.unit_mem) > 0 and int(redeemer.unit_steps) > 0 and int(redeemer.fee) > 0
    (message,) = api.transaction_metadata(story.transfer_tx, return_type="json")
    assert message == {"label": "674", "json_metadata": MESSAGE}
    labelled = api.metadata_label_json("674", return_type="json")
    assert {"tx_hash": story.transfer_tx, "json_metadata": MESSAGE} in labelled
    datum = api.script_datum(story.lock_datum_hash, return_type="json")["json_value"]
    owner, deadline = datum["fields"]
    assert datum["constructor"] == 0
    assert owner == {"bytes": bytes(story.alice.key_hash.payload).hex()}
    cbor = api.script_datum_cbor(story.lock_datum_hash).cbor
    assert EscrowDatum.from_cbor(bytes.fromhex(cbor)).deadline == deadline["int"]


def test_assets_holders_and_policy(devnet_url: str, story: ChainStory) -> None:
    api = blockfrost_api(devnet_url)
    nft = api.asset(story.nft_unit)
    assert (nft.quantity, nft.mint_or_burn_count, nft.initial_mint_tx_hash) == (
        "1",
        1,
        story.mint_tx,
    )
    assert nft.onchain_metadata.name == "NFT one"
    assert nft.onchain_metadata_standard == "CIP25v1"
    assert nft.fingerprint.startswith("asset1")
    holders = api.asset_addresses(story.nft_unit)
    assert [(h.address, h.quantity) for h in holders] == [(story.alice.bech32, "1")]
    assert [a.asset for a in api.assets_policy(story.native_policy_hash)] == [story.nft_unit]
    assert [(h.action, h.amount) for h in api.asset_history(story.nft_unit)] == [("minted", "1")]
    assert [t.tx_hash for t in api.asset_transactions(story.nft_unit)] == [story.mint_tx]


def test_scripts(devnet_url: str, story: ChainStory) -> None:
    api = blockfrost_api(devnet_url)
    escrow = api.script(story.escrow_hash)
    assert (escrow.type, escrow.serialised_size) == ("plutusV3", len(ESCROW))
    assert api.script_cbor(story.escrow_hash).cbor == bytes(ESCROW).hex()
    native = api.script(story.native_policy_hash)
    assert (native.type, native.serialised_size) == ("timelock", None)
    as_json = api.script_json(story.native_policy_hash, return_type="json")["json"]
    assert as_json["type"] == "all"
    assert as_json["scripts"] == [
        {"type": "sig", "keyHash": bytes(story.alice.key_hash.payload).hex()}
    ]


def test_chain_queries_through_blockfrost_python(devnet_url: str, story: ChainStory) -> None:
    api = blockfrost_api(devnet_url)
    latest = api.block_latest()
    assert api.block(latest.hash).height == latest.height
    assert story.spend_tx in api.block_transactions(latest.hash) or latest.height > 0
    assert api.epoch_latest().epoch == latest.epoch
    params = api.epoch_latest_parameters(return_type="json")
    assert len(params["cost_models_raw"]["PlutusV3"]) == len(params["cost_models"]["PlutusV3"])
    assert api.genesis().network_magic == 42
    assert api.health().is_healthy is True
    assert api.root().version


def test_script_failure_is_an_evaluation_failure_and_a_submit_rejection(
    devnet_url: str, client: httpx.Client
) -> None:
    context = chain_context(devnet_url)
    owner = funded_wallet(client, 50 * ADA)
    slot = current_slot(client)
    too_late = (slot + 10_000) * 1000 + client.get("/devnet/info").json()["system_start_ms"]
    escrow = Address(plutus_script_hash(ESCROW), network=Network.TESTNET)
    builder = TransactionBuilder(context)
    builder.add_input_address(owner.address)
    datum = EscrowDatum(bytes(owner.key_hash.payload), too_late)
    builder.add_output(TransactionOutput(escrow, 5 * ADA, datum=datum))
    lock = builder.build_and_sign([owner.signing_key], change_address=owner.address)
    context.submit_tx(lock)
    (locked,) = [u for u in context.utxos(str(escrow)) if u.input.transaction_id == lock.id]

    def claim(units: ExecutionUnits | None) -> TransactionBuilder:
        claim_builder = TransactionBuilder(context)
        claim_builder.add_script_input(locked, script=ESCROW, redeemer=Redeemer(Claim(), units))
        claim_builder.add_input_address(owner.address)
        claim_builder.required_signers = [owner.key_hash]
        claim_builder.validity_start, claim_builder.ttl = slot, slot + 600
        return claim_builder

    # pycardano evaluates through /utils/txs/evaluate and refuses a failing script
    with pytest.raises(TransactionFailedException):
        claim(None).build_and_sign([owner.signing_key], change_address=owner.address)
    # with a declared budget it builds; the evaluator then names the failure, submit rejects it
    signed = claim(ExecutionUnits(1_000_000, 500_000_000)).build_and_sign(
        [owner.signing_key], change_address=owner.address
    )
    evaluated = client.post(
        "/api/v0/utils/txs/evaluate",
        content=signed.to_cbor_hex(),
        headers={"Content-Type": "application/cbor"},
    )
    failures = evaluated.json()["result"]["EvaluationFailure"]["ScriptFailures"]["spend:0"]
    assert "too early" in " ".join(failures[0]["validatorFailed"]["traces"])
    submitted = client.post(
        "/api/v0/tx/submit",
        content=signed.to_cbor(),
        headers={"Content-Type": "application/cbor"},
    )
    assert submitted.status_code == 400
    assert submitted.json()["message"].startswith("rule phase2:")
