"""The escrow a profile means: ours applied with its parameters, or a deployed one loaded by hash
from the chain (as preprod and mainnet use Masumi's), spent inline or by reference script."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from pycardano import Network, TransactionInput, UTxO

from contracts.datums import State
from contracts.params import escrow_script
from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import EscrowBuilders, datum_of
from node.chain.context import PortChainContext
from node.chain.contracts import (
    ContractError,
    deploy_reference_script,
    escrow_contract,
)
from node.config import NetworkProfile
from tests.devnet.http_helpers import faucet
from tests.node.chain.escrow_world import (
    ADMINS,
    BUYER,
    COOLDOWN_MS,
    FEE,
    SELLER,
    Escrow,
    actor,
    devnet_slot_config,
    escrow_params,
)

HOLDER = actor("reference-holder")


def profile(**escrow: Any) -> NetworkProfile:
    base: dict[str, Any] = {
        "fee_address": str(FEE.address),
        "fee_permille": 50,
        "cooldown_ms": COOLDOWN_MS,
        "required_admin_signatures": 2,
        "admin_key_hashes": [admin.key_hash.payload.hex() for admin in ADMINS],
    }
    base.update(escrow)
    return NetworkProfile.model_validate(
        {
            "name": "devnet",
            "display_name": "Devnet",
            "network_id": 0,
            "blockfrost_url": "http://127.0.0.1:1/api",
            "required_confirmations": 1,
            "escrow": base,
            "registry": {},
            "stablecoin": {"name": "USDM", "decimals": 6},
        }
    )


def test_our_contract_is_applied_with_the_profiles_parameters(chain: BlockfrostChain) -> None:
    contract = escrow_contract(profile(source="contracts"), chain)
    expected = escrow_script(escrow_params())
    assert contract.script == expected.plutus_script
    assert contract.address == expected.address(Network.TESTNET)
    assert contract.fee_permille == 50 and contract.reference is None


def test_a_deployed_script_is_loaded_by_hash_once_and_spent_by_reference(
    chain: BlockfrostChain, chain_devnet: DevnetServer, devnet_http: httpx.Client
) -> None:
    script = escrow_script(escrow_params())
    faucet(devnet_http, str(HOLDER.address), 100 * 1_000_000)
    deploy = deploy_reference_script(
        PortChainContext(chain, 0), HOLDER, script.plutus_script, HOLDER.address
    )
    chain.submit(deploy.cbor)
    deployed = profile(
        source="chain",
        script_hash=script.hash.hex(),
        address=str(script.address(Network.TESTNET)),
    )
    contract = escrow_contract(deployed, chain, reference_holder=str(HOLDER.address))
    again = escrow_contract(deployed, chain)
    assert contract.script == again.script == script.plutus_script
    assert chain.requests.snapshot()["GET /scripts/{script_hash}/cbor"] == 1
    assert contract.reference is not None
    assert contract.reference.input == TransactionInput(deploy.tx.id, 0)

    slots = devnet_slot_config(devnet_http)
    builders = EscrowBuilders(
        PortChainContext(chain, 0), contract, slots, clock=lambda: chain_devnet.ledger.now_ms
    )
    escrow = Escrow(builders, chain, chain_devnet, devnet_http, _usdm(devnet_http))
    faucet(devnet_http, str(BUYER.address), 50 * 1_000_000, {escrow.unit: 20_000_000})
    faucet(devnet_http, str(SELLER.address), 50 * 1_000_000)
    purchase = escrow.purchase("by-reference")
    lock = escrow.submit(builders.lock(BUYER, [purchase]))
    result = hashlib.sha256(b"referenced").digest()
    built = builders.submit_result(SELLER, escrow.escrow_utxo(lock), result, purchase.request_id)
    escrow.submit(built)
    body, witnesses = built.tx.transaction_body, built.tx.transaction_witness_set
    assert contract.reference.input in body.reference_inputs
    assert not witnesses.plutus_v3_script  # the script's bytes are not paid for again
    assert datum_of(UTxO(TransactionInput(built.tx.id, 0), body.outputs[0])).current_state == (
        State.RESULT_SUBMITTED
    )


def test_a_script_that_is_not_the_profiles_hash_is_refused(chain: BlockfrostChain) -> None:
    wrong = profile(source="contracts", script_hash="00" * 28)
    with pytest.raises(ContractError, match="script_hash"):
        escrow_contract(wrong, chain)


def _usdm(http: httpx.Client) -> str:
    unit: str = http.get("/devnet/info").json()["usdm"]["unit"]
    return unit
