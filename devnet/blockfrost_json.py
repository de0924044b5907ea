"""Blockfrost's JSON shapes for the ledger's query results.

Field names and types follow Blockfrost's OpenAPI specification: quantities and other big numbers
as strings, times in POSIX seconds, absent values as null.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from fractions import Fraction
from typing import Any

import cbor2

from devnet.genesis import EPOCH_LENGTH_SLOTS
from devnet.ledger import (
    Amount,
    AssetHistoryEntry,
    AssetHolder,
    AssetView,
    Block,
    BlockView,
    Ledger,
    MetadataView,
    RedeemerView,
    ScriptView,
    TxInputView,
    TxOutputView,
    TxRef,
    TxUtxos,
    TxView,
    UtxoView,
)
from devnet.params import ProtocolParams

Json = dict[str, Any]
DEVNET_SLOT_LEADER = "devnet"
# Nonce of the devnet's epochs: there is no leader election, so any fixed 32 bytes will do.
EPOCH_NONCE = "00" * 32
# Conway governance parameters (mainnet's values): the devnet has no governance, but Blockfrost
# always serves them, so clients that read them get realistic numbers.
GOVERNANCE_DEFAULTS: Json = {
    "pvt_motion_no_confidence": 0.51,
    "pvt_committee_normal": 0.51,
    "pvt_committee_no_confidence": 0.51,
    "pvt_hard_fork_initiation": 0.51,
    "dvt_motion_no_confidence": 0.67,
    "dvt_committee_normal": 0.67,
    "dvt_committee_no_confidence": 0.6,
    "dvt_update_to_constitution": 0.75,
    "dvt_hard_fork_initiation": 0.6,
    "dvt_p_p_network_group": 0.67,
    "dvt_p_p_economic_group": 0.67,
    "dvt_p_p_technical_group": 0.67,
    "dvt_p_p_gov_group": 0.75,
    "dvt_treasury_withdrawal": 0.67,
    "committee_min_size": "7",
    "committee_max_term_length": "146",
    "gov_action_lifetime": "6",
    "gov_action_deposit": "100000000000",
    "drep_deposit": "500000000",
    "drep_activity": "20",
    "pvtpp_security_group": 0.51,
    "pvt_p_p_security_group": 0.51,
}
E_MAX = 18
N_OPT = 500


def seconds(time_ms: int) -> int:
    return time_ms // 1000


def amounts_json(amounts: Iterable[Amount]) -> list[Json]:
    return [{"unit": a.unit, "quantity": str(a.quantity)} for a in amounts]


def _optional_str(value: int | None) -> str | None:
    return None if value is None else str(value)


def number(value: Fraction | int) -> float | int:
    """A JSON number: integral values stay integers, others become the nearest float."""
    fraction = Fraction(value)
    return int(fraction) if fraction.denominator == 1 else float(fraction)


# Blocks and epochs ----------------------------------------------------------------------------


def block_json(view: BlockView) -> Json:
    block = view.block
    return {
        "time": seconds(block.time_ms),
        "height": block.height,
        "hash": block.hash,
        "slot": block.slot,
        "epoch": block.epoch,
        "epoch_slot": block.epoch_slot,
        "slot_leader": DEVNET_SLOT_LEADER,
        "size": block.size,
        "tx_count": len(block.tx_hashes),
        "output": str(block.output),
        "fees": str(block.fees),
        "block_vrf": None,
        "op_cert": None,
        "op_cert_counter": None,
        "previous_block": block.previous_hash,
        "next_block": view.next_hash,
        "confirmations": view.confirmations,
    }


def epoch_json(ledger: Ledger, epoch: int) -> Json:
    blocks: list[Block] = ledger.blocks_in_epoch(epoch)
    start_ms = ledger.slot_to_ms(epoch * EPOCH_LENGTH_SLOTS)
    start = seconds(start_ms)
    return {
        "epoch": epoch,
        "start_time": start,
        "end_time": start + EPOCH_LENGTH_SLOTS * ledger_slot_seconds(ledger),
        "first_block_time": seconds(blocks[0].time_ms) if blocks else start,
        "last_block_time": seconds(blocks[-1].time_ms) if blocks else start,
        "block_count": len(blocks),
        "tx_count": sum(len(b.tx_hashes) for b in blocks),
        "output": str(sum(b.output for b in blocks)),
        "fees": str(sum(b.fees for b in blocks)),
        "active_stake": None,
    }


def ledger_slot_seconds(ledger: Ledger) -> int:
    return ledger.slot_config.slot_length_ms // 1000


def cost_models_named(params: ProtocolParams) -> Json:
    """Each language's cost model as a name -> value map whose keys are in ledger order.

    pycardano serialises V2/V3 maps in insertion order (and sorts V1's, which is the ledger
    order for V1's names), so the order of these keys decides the script integrity hash."""
    from devnet.phase2 import ledger_param_names

    named: Json = {}
    for language, values in params.cost_models_raw.items():
        names = ledger_param_names(language)
        if len(names) < len(values):  # newer parameters than uplc knows: keep their positions
            names = (*names, *(f"param-{i:03d}" for i in range(len(names), len(values))))
        named[language] = dict(zip(names, values, strict=False))
    return named


def parameters_json(params: ProtocolParams, epoch: int) -> Json:
    source: Json = _source_fields(params)
    coins_per_byte = str(params.coins_per_utxo_size)
    body: Json = {
        "epoch": epoch,
        "min_fee_a": params.min_fee_a,
        "min_fee_b": params.min_fee_b,
        "max_block_size": params.max_block_size,
        "max_tx_size": params.max_tx_size,
        "max_block_header_size": params.max_block_header_size,
        "key_deposit": str(params.key_deposit),
        "pool_deposit": str(params.pool_deposit),
        "e_max": int(source.get("e_max", E_MAX)),
        "n_opt": int(source.get("n_opt", N_OPT)),
        "a0": number(params.a0),
        "rho": number(params.rho),
        "tau": number(params.tau),
        "decentralisation_param": 0,
        "extra_entropy": None,
        "protocol_major_ver": params.protocol_major,
        "protocol_minor_ver": params.protocol_minor,
        "min_utxo": coins_per_byte,
        "min_pool_cost": str(params.min_pool_cost),
        "nonce": EPOCH_NONCE,
        "cost_models": cost_models_named(params),
        "cost_models_raw": {k: list(v) for k, v in params.cost_models_raw.items()},
        "price_mem": number(params.price_mem),
        "price_step": number(params.price_step),
        "max_tx_ex_mem": str(params.max_tx_ex_mem),
        "max_tx_ex_steps": str(params.max_tx_ex_steps),
        "max_block_ex_mem": str(params.max_block_ex_mem),
        "max_block_ex_steps": str(params.max_block_ex_steps),
        "max_val_size": str(params.max_val_size),
        "collateral_percent": params.collateral_percent,
        "max_collateral_inputs": params.max_collateral_inputs,
        "coins_per_utxo_size": coins_per_byte,
        "coins_per_utxo_word": coins_per_byte,  # deprecated; Blockfrost repeats the byte price
    }
    for key, default in GOVERNANCE_DEFAULTS.items():
        body[key] = source.get(key, default)
    body["min_fee_ref_script_cost_per_byte"] = number(params.min_fee_ref_script_cost_per_byte)
    return body


def _source_fields(params: ProtocolParams) -> Json:
    import json

    loaded = json.loads(params.source_json)
    return loaded if isinstance(loaded, dict) else {}


def genesis_json(ledger: Ledger) -> Json:
    """Exactly the ten genesis fields: pycardano builds GenesisParameters(**answer)."""
    from devnet.context import LedgerChainContext

    genesis = LedgerChainContext(ledger).genesis_param
    body: Json = {f.name: getattr(genesis, f.name) for f in fields(genesis)}
    body["active_slots_coefficient"] = number(body["active_slots_coefficient"])
    body["max_lovelace_supply"] = str(body["max_lovelace_supply"])
    return body


def network_json(ledger: Ledger) -> Json:
    from devnet.context import MAX_LOVELACE_SUPPLY

    circulating = ledger.lovelace_in_utxos()
    return {
        "supply": {
            "max": str(MAX_LOVELACE_SUPPLY),
            "total": str(circulating),
            "circulating": str(circulating),
            "locked": "0",
            "treasury": "0",
            "reserves": str(MAX_LOVELACE_SUPPLY - circulating),
        },
        "stake": {"live": "0", "active": "0"},
    }


# Addresses and transactions -------------------------------------------------------------------


def utxo_json(view: UtxoView) -> Json:
    return {
        "address": view.address,
        "tx_hash": view.tx_hash,
        "tx_index": view.output_index,  # deprecated duplicate of output_index
        "output_index": view.output_index,
        "amount": amounts_json(view.amount),
        "block": view.block_hash,
        "data_hash": view.data_hash,
        "inline_datum": view.inline_datum,
        "reference_script_hash": view.reference_script_hash,
    }


def tx_ref_json(ref: TxRef) -> Json:
    return {
        "tx_hash": ref.tx_hash,
        "tx_index": ref.tx_index,
        "block_height": ref.block_height,
        "block_time": seconds(ref.block_time_ms),
    }


def tx_json(view: TxView) -> Json:
    return {
        "hash": view.hash,
        "block": view.block_hash,
        "block_height": view.block_height,
        "block_time": seconds(view.block_time_ms),
        "slot": view.slot,
        "index": view.index,
        "output_amount": amounts_json(view.output_amount),
        "fees": str(view.fees),
        "deposit": str(view.deposit),
        "size": view.size,
        "invalid_before": _optional_str(view.invalid_before),
        "invalid_hereafter": _optional_str(view.invalid_hereafter),
        "utxo_count": view.utxo_count,
        "withdrawal_count": view.withdrawal_count,
        "mir_cert_count": view.mir_cert_count,
        "delegation_count": view.delegation_count,
        "stake_cert_count": view.stake_cert_count,
        "pool_update_count": view.pool_update_count,
        "pool_retire_count": view.pool_retire_count,
        "asset_mint_or_burn_count": view.asset_mint_or_burn_count,
        "redeemer_count": view.redeemer_count,
        "valid_contract": view.valid_contract,
        "treasury_donation": "0",
    }


def _input_json(view: TxInputView) -> Json:
    return {
        "address": view.address,
        "amount": amounts_json(view.amount),
        "tx_hash": view.tx_hash,
        "output_index": view.output_index,
        "data_hash": view.data_hash,
        "inline_datum": view.inline_datum,
        "reference_script_hash": view.reference_script_hash,
        "collateral": view.collateral,
        "reference": view.reference,
    }


def _output_json(view: TxOutputView) -> Json:
    return {
        "address": view.address,
        "amount": amounts_json(view.amount),
        "output_index": view.output_index,
        "data_hash": view.data_hash,
        "inline_datum": view.inline_datum,
        "collateral": view.collateral,
        "reference_script_hash": view.reference_script_hash,
        "consumed_by_tx": view.consumed_by_tx,
    }


def tx_utxos_json(utxos: TxUtxos) -> Json:
    return {
        "hash": utxos.hash,
        "inputs": [_input_json(i) for i in utxos.inputs],
        "outputs": [_output_json(o) for o in utxos.outputs],
    }


def redeemer_json(view: RedeemerView) -> Json:
    return {
        "tx_index": view.tx_index,
        "purpose": view.purpose,
        "script_hash": view.script_hash or "",
        "redeemer_data_hash": view.redeemer_data_hash,
        "datum_hash": view.redeemer_data_hash,  # deprecated alias Blockfrost still serves
        "unit_mem": str(view.unit_mem),
        "unit_steps": str(view.unit_steps),
        "fee": str(view.fee),
    }


def metadata_json(view: MetadataView) -> Json:
    return {"label": view.label, "json_metadata": view.json_metadata}


def metadata_cbor_json(view: MetadataView) -> Json:
    return {
        "label": view.label,
        "cbor_metadata": "\\x" + view.cbor_metadata,
        "metadata": view.cbor_metadata,
    }


# Assets -----------------------------------------------------------------------------------------


def asset_json(view: AssetView) -> Json:
    body: Json = {
        "asset": view.asset,
        "policy_id": view.policy_id,
        "asset_name": view.asset_name,
        "fingerprint": view.fingerprint,
        "quantity": str(view.quantity),
        "initial_mint_tx_hash": view.initial_mint_tx_hash,
        "mint_or_burn_count": view.mint_or_burn_count,
        "onchain_metadata": view.onchain_metadata,
        "onchain_metadata_extra": None,
        "metadata": None,  # off-chain token registry: the devnet has none
    }
    # optional field; the spec's enum has no null, so strict OpenAPI 3.0 validators want it absent
    if view.onchain_metadata_standard is not None:
        body["onchain_metadata_standard"] = view.onchain_metadata_standard
    return body


def holder_json(holder: AssetHolder) -> Json:
    return {"address": holder.address, "quantity": str(holder.quantity)}


def policy_asset_json(holder: AssetHolder) -> Json:
    return {"asset": holder.address, "quantity": str(holder.quantity)}


def history_json(entry: AssetHistoryEntry) -> Json:
    return {"tx_hash": entry.tx_hash, "action": entry.action, "amount": str(entry.amount)}


# Scripts and datums ---------------------------------------------------------------------------


def script_json(view: ScriptView) -> Json:
    return {
        "script_hash": view.script_hash,
        "type": view.type,
        "serialised_size": view.serialised_size,
    }


def datum_json_value(datum_cbor: bytes) -> Any:
    """Plutus data in the detailed JSON schema (cardano-cli's, which Blockfrost serves)."""
    return _detailed(cbor2.loads(datum_cbor))


def _detailed(node: Any) -> Any:
    if isinstance(node, cbor2.CBORTag):
        return _constructor(node)
    if isinstance(node, bool):
        raise ValueError("booleans are not Plutus data")
    if isinstance(node, int):
        return {"int": node}
    if isinstance(node, bytes):
        return {"bytes": node.hex()}
    if isinstance(node, list | tuple):
        return {"list": [_detailed(item) for item in node]}
    if isinstance(node, dict):
        return {"map": [{"k": _detailed(k), "v": _detailed(v)} for k, v in node.items()]}
    raise ValueError(f"not Plutus data: {type(node).__name__}")


def _constructor(tag: cbor2.CBORTag) -> Any:
    if 121 <= tag.tag <= 127:
        index, items = tag.tag - 121, tag.value
    elif 1280 <= tag.tag <= 1400:
        index, items = tag.tag - 1280 + 7, tag.value
    elif tag.tag == 102:
        index, items = tag.value
    else:
        raise ValueError(f"unexpected CBOR tag {tag.tag} in Plutus data")
    return {"constructor": index, "fields": [_detailed(item) for item in items]}
