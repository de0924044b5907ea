"""Independent judges (../shared/tools/tx-oracles) on a sample of transactions built by the real
builders against a devnet: scalus's ledger must accept each one on the UTxO set it was built on,
and CML must agree with us on its id, signatures, fee, min-ADA and script data hash.

The escrows are brought into the states the sample needs first (locks, results, disputes with
deadlines staggered around one moment), then every sample transaction is built at that moment,
none submitted, and each is judged on its own copy of the same UTxO set.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycardano import Transaction, TransactionInput, Value

from contracts.params import registry_policy
from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import BuiltTx, EscrowBuilders, LockRequest
from node.chain.context import PortChainContext
from node.chain.registry_builders import RegistryBuilders
from node.config import SlotConfig
from tests.devnet.http_helpers import usdm_unit
from tests.devnet.oracles import NODE_TIMEOUT_S, REPO_ROOT, oracle_dir
from tests.node.chain.escrow_world import (
    ADA,
    ADMINS,
    BUYER,
    HOUR_MS,
    SELLER,
    Escrow,
    devnet_slot_config,
    fund_parties,
    parties_contract,
)

PARAMS_PATH = REPO_ROOT / "config" / "devnet-protocol-params.json"
MINUTE_MS = 60_000
AGENT_METADATA = {
    "name": "Oracle agent",
    "description": "A description long enough to be written as chunks of at most 64 bytes. " * 3,
    "api_base_url": "https://agents.example.com/oracle",
    "author": {"name": "Ada"},
    "tags": ["test"],
    "metadata_version": "1",
}


@dataclass(frozen=True)
class Sample:
    built: dict[str, BuiltTx]
    utxos: list[list[str]]  # the UTxO set the sample was built on, in the oracles' job format
    slot: int
    slot_config: SlotConfig


def _escrow(devnet: DevnetServer, http: httpx.Client, chain: BlockfrostChain) -> Escrow:
    unit = usdm_unit(http)
    fund_parties(http, unit, 200 * ADA, 100_000_000)
    builders = EscrowBuilders(
        PortChainContext(chain, 0),
        parties_contract(),
        devnet_slot_config(http),
        clock=lambda: devnet.ledger.now_ms,
    )
    return Escrow(builders, chain, devnet, http, unit)


def _purchase(escrow: Escrow, label: str, *deadlines_h: int) -> LockRequest:
    """A purchase whose four deadlines are these many hours from now."""
    base = escrow.purchase(label)
    now = escrow.devnet.ledger.now_ms
    pay_by, submit, unlock, dispute = (now + hours * HOUR_MS for hours in deadlines_h)
    datum = base.datum.replace(
        pay_by_time=pay_by,
        submit_result_time=submit,
        unlock_time=unlock,
        external_dispute_unlock_time=dispute,
    )
    return LockRequest(datum, base.value, base.request_id)


@pytest.fixture(scope="module")
def sample(chain_devnet: DevnetServer, devnet_http: httpx.Client) -> Iterator[Sample]:
    chain = BlockfrostChain(chain_devnet.url + "/api", "oracles")
    escrow = _escrow(chain_devnet, devnet_http, chain)
    b = escrow.builders
    result = hashlib.sha256(b"oracle result").digest()
    # Now (T0): escrows for each later action; the sample is built at T0 + 4 h 10 min.
    collect = _purchase(escrow, "oracle-collect", 1, 2, 3, 4)  # Withdraw after unlock
    refund = _purchase(escrow, "oracle-refund", 1, 2, 3, 4)  # WithdrawRefund, no result
    dispute = _purchase(escrow, "oracle-dispute", 1, 2, 3, 4)  # disputed: admins, authorize
    late = _purchase(escrow, "oracle-late", 1, 6, 7, 8)  # still open for result and refund
    lock = escrow.submit(b.lock(BUYER, [collect, refund, dispute, late]))
    submitted = escrow.submit(
        b.submit_result(SELLER, escrow.escrow_utxo(lock, 0), result, collect.request_id)
    )
    collect_utxo = escrow.escrow_utxo(submitted)
    disputed_result = escrow.submit(
        b.submit_result(SELLER, escrow.escrow_utxo(lock, 2), result, dispute.request_id)
    )
    disputed = escrow.submit(
        b.set_refund_requested(BUYER, escrow.escrow_utxo(disputed_result), dispute.request_id)
    )
    dispute_utxo = escrow.escrow_utxo(disputed)
    refund_utxo, late_utxo = escrow.escrow_utxo(lock, 1), escrow.escrow_utxo(lock, 3)
    escrow.advance(4 * HOUR_MS + 10 * MINUTE_MS)

    registry = registry_policy(str(b.contract.address))
    minting = RegistryBuilders(
        b.context,
        registry.plutus_script,
        registry.hash,
        clock=b.clock,
        slot_config=b.slots,
    )
    half = Value(dispute_utxo.output.amount.coin // 2, escrow.usdm(5_000_000))
    built = {
        "lock-batched": b.lock(
            BUYER, [_purchase(escrow, f"oracle-batch-{i}", 1, 2, 3, 4) for i in range(3)]
        ),
        "submit-result": b.submit_result(SELLER, late_utxo, result, late.request_id),
        "set-refund-requested": b.set_refund_requested(BUYER, late_utxo, late.request_id),
        "unset-refund-requested": b.unset_refund_requested(BUYER, dispute_utxo, dispute.request_id),
        "authorize-refund": b.authorize_refund(SELLER, dispute_utxo, dispute.request_id),
        "withdraw": b.withdraw(
            SELLER,
            collect_utxo,
            collect.request_id,
            returned_to_buyer=Value(0, escrow.usdm(4_000_000)),
        ),
        "withdraw-refund": b.withdraw_refund(BUYER, refund_utxo, refund.request_id),
        "withdraw-disputed": b.withdraw_disputed(
            ADMINS[:2],
            dispute_utxo,
            dispute.request_id,
            to_buyer=half,
            to_seller=dispute_utxo.output.amount - half,
        ),
        "registry-mint": minting.mint(SELLER, AGENT_METADATA)[0],
    }
    ledger = chain_devnet.ledger
    utxos = [
        [TransactionInput.from_primitive([txin.tx_id, txin.index]).to_cbor_hex(), output.hex()]
        for txin, output in ledger.utxo_snapshot().items()
    ]
    yield Sample(built, utxos, ledger.current_slot, b.slots)
    chain.close()


def _node(folder: Path, args: list[str], stdin: str) -> Any:
    done = subprocess.run(
        ["node", *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"node {args[0]} failed: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def oracles() -> Path:
    return oracle_dir()


def test_the_sample_covers_every_kind(sample: Sample) -> None:
    kinds = {built.kind for built in sample.built.values()}
    assert kinds == {
        "PaymentBatched",
        "SubmitResult",
        "RequestRefund",
        "CancelRefund",
        "AuthorizeRefund",
        "CollectCompleted",
        "CollectRefund",
        "CollectDisputed",
        "RegisterAgent",
    }


def test_scalus_accepts_every_built_transaction(oracles: Path, sample: Sample) -> None:
    slots = sample.slot_config
    job = {
        "utxos": sample.utxos,
        "slot": sample.slot,
        "slot_config": {
            "zero_time": slots.zero_time_ms,
            "zero_slot": slots.zero_slot,
            "slot_length": slots.slot_length_ms,
        },
        "txs": [{"name": name, "cbor": built.cbor.hex()} for name, built in sample.built.items()],
    }
    verdicts = {row["name"]: row for row in _node(oracles, ["scalus-oracle.mjs"], json.dumps(job))}
    assert set(verdicts) == set(sample.built)
    refused = {name: row.get("error") for name, row in verdicts.items() if not row["ok"]}
    assert refused == {}, f"scalus refused: {refused}"
    for name, built in sample.built.items():
        assert verdicts[name]["tx_id"] == built.tx_hash, name


@pytest.mark.parametrize(
    "name",
    [
        "lock-batched",
        "submit-result",
        "set-refund-requested",
        "unset-refund-requested",
        "authorize-refund",
        "withdraw",
        "withdraw-refund",
        "withdraw-disputed",
        "registry-mint",
    ],
)
def test_cml_agrees_on_id_signatures_fee_min_ada_and_script_data_hash(
    oracles: Path, sample: Sample, name: str
) -> None:
    built = sample.built[name]
    view = _node(oracles, ["cml-inspect.mjs", "-", str(PARAMS_PATH)], built.cbor.hex())
    body = built.tx.transaction_body
    assert view["roundtrip_identical"] is True
    assert view["tx_id"] == built.tx_hash
    assert view["size"] == len(built.cbor)
    assert int(view["min_fee"]) <= built.fee == int(view["fee"])
    assert [out["ok"] for out in view["outputs"]] == [True] * len(body.outputs)
    for out, ours in zip(view["outputs"], body.outputs, strict=True):
        assert int(out["coin"]) == ours.amount.coin >= int(out["min_ada"])
    signatures = view["signatures"]
    assert signatures and all(sig["valid"] for sig in signatures)
    signed = {sig["key_hash"] for sig in signatures}
    assert {bytes(k.payload).hex() for k in body.required_signers or []} <= signed
    declared = view["script_data_hash"]["declared"]
    if _spends_or_mints_with_scripts(built.tx):
        assert declared == bytes(body.script_data_hash.payload).hex()
        assert view["script_data_hash"]["computed"] == declared
    else:
        assert declared is None and body.script_data_hash is None


def _spends_or_mints_with_scripts(tx: Transaction) -> bool:
    return bool(tx.transaction_witness_set.redeemer)
