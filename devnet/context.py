"""A pycardano ChainContext backed directly by an in-process Ledger (no HTTP), and the faucet.

Cost models are handed to pycardano as named maps whose keys are zero-padded positions: pycardano
serialises V2/V3 in insertion order and sorts V1's keys, so both give the ledger order.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from pycardano import (
    Address,
    Asset,
    AssetName,
    ChainContext,
    ExecutionUnits,
    GenesisParameters,
    MultiAsset,
    Network,
    ProtocolParameters,
    ScriptHash,
    TransactionBuilder,
    TransactionInput,
    TransactionOutput,
    UTxO,
    Value,
)

from devnet import phase1
from devnet.genesis import EPOCH_LENGTH_SLOTS, NETWORK_MAGIC
from devnet.ledger import MAX_REF_SCRIPTS_BYTES, address_bytes
from devnet.phase1 import Output, TxIn

if TYPE_CHECKING:
    from devnet.ledger import Ledger
    from devnet.params import ProtocolParams

ALONZO_COINS_PER_UTXO_WORD = 34_482
MAX_LOVELACE_SUPPLY = 45_000_000_000_000_000


def pycardano_protocol_parameters(params: ProtocolParams) -> ProtocolParameters:
    return ProtocolParameters(
        min_fee_constant=params.min_fee_b,
        min_fee_coefficient=params.min_fee_a,
        max_block_size=params.max_block_size,
        max_tx_size=params.max_tx_size,
        max_block_header_size=params.max_block_header_size,
        key_deposit=params.key_deposit,
        pool_deposit=params.pool_deposit,
        pool_influence=params.a0,
        monetary_expansion=params.rho,
        treasury_expansion=params.tau,
        decentralization_param=Fraction(0),
        extra_entropy="",
        protocol_major_version=params.protocol_major,
        protocol_minor_version=params.protocol_minor,
        min_utxo=0,
        min_pool_cost=params.min_pool_cost,
        price_mem=params.price_mem,
        price_step=params.price_step,
        max_tx_ex_mem=params.max_tx_ex_mem,
        max_tx_ex_steps=params.max_tx_ex_steps,
        max_block_ex_mem=params.max_block_ex_mem,
        max_block_ex_steps=params.max_block_ex_steps,
        max_val_size=params.max_val_size,
        collateral_percent=params.collateral_percent,
        max_collateral_inputs=params.max_collateral_inputs,
        coins_per_utxo_word=ALONZO_COINS_PER_UTXO_WORD,
        coins_per_utxo_byte=params.coins_per_utxo_size,
        cost_models={
            language: {f"{i:03d}": v for i, v in enumerate(values)}
            for language, values in params.cost_models_raw.items()
        },
        maximum_reference_scripts_size={"bytes": MAX_REF_SCRIPTS_BYTES},
        min_fee_reference_scripts={
            "base": params.min_fee_ref_script_cost_per_byte,
            "range": 25_600,
            "multiplier": Fraction(6, 5),
        },
    )


class LedgerChainContext(ChainContext):  # type: ignore[misc]
    """pycardano's view of the ledger. `include_mempool` lets a builder chain transactions
    that are queued but not yet in a block (realtime mode)."""

    def __init__(self, ledger: Ledger, *, include_mempool: bool = False) -> None:
        self.ledger = ledger
        self.include_mempool = include_mempool
        self._protocol_param = pycardano_protocol_parameters(ledger.params)

    @property
    def protocol_param(self) -> ProtocolParameters:
        return self._protocol_param

    @property
    def genesis_param(self) -> GenesisParameters:
        return GenesisParameters(
            active_slots_coefficient=Fraction(1, 20),
            update_quorum=5,
            max_lovelace_supply=MAX_LOVELACE_SUPPLY,
            network_magic=NETWORK_MAGIC,
            epoch_length=EPOCH_LENGTH_SLOTS,
            system_start=self.ledger.genesis.system_start_ms // 1000,
            slots_per_kes_period=129_600,
            slot_length=1,
            max_kes_evolutions=62,
            security_param=2160,
        )

    @property
    def network(self) -> Network:
        return Network.TESTNET

    @property
    def epoch(self) -> int:
        return self.ledger.current_slot // EPOCH_LENGTH_SLOTS

    @property
    def last_block_slot(self) -> int:
        # The builder's default validity window is anchored here; the current slot keeps it
        # right in manual mode when time moved without a block.
        return self.ledger.current_slot

    def _utxos(self, address: str) -> list[UTxO]:
        found = self.ledger.outputs_at(address_bytes(address), include_mempool=self.include_mempool)
        return [
            UTxO(
                TransactionInput.from_primitive([txin.tx_id, txin.index]),
                TransactionOutput.from_cbor(output.cbor),
            )
            for txin, output in found
        ]

    def submit_tx_cbor(self, cbor: bytes | str) -> str:
        raw = bytes.fromhex(cbor) if isinstance(cbor, str) else bytes(cbor)
        return self.ledger.submit(raw)

    def evaluate_tx_cbor(self, cbor: bytes | str) -> dict[str, ExecutionUnits]:
        raw = bytes.fromhex(cbor) if isinstance(cbor, str) else bytes(cbor)
        results = self.ledger.evaluate(raw, self._pending_outputs(raw))
        failed = [r for r in results if not r.ok]
        if failed:
            from devnet.errors import LedgerRejection

            first = failed[0]
            raise LedgerRejection("phase2", f"{first.tag}:{first.index} failed: {first.error}")
        return {f"{r.tag}:{r.index}": ExecutionUnits(r.mem, r.steps) for r in results}

    def _pending_outputs(self, raw: bytes) -> dict[TxIn, Output]:
        """The mempool outputs the tx uses, for the evaluator (which sees only the ledger) when
        this context offers the mempool's view."""
        if not self.include_mempool:
            return {}
        tx = phase1.decode_transaction(raw)
        found: dict[TxIn, Output] = {}
        for txin in (*tx.inputs, *tx.reference_inputs, *tx.collateral_inputs):
            if self.ledger.utxo(txin) is None:
                output = self.ledger.utxo(txin, include_mempool=True)
                if output is not None:
                    found[txin] = output
        return found


def _multi_asset(assets: dict[str, int]) -> MultiAsset:
    multi = MultiAsset()
    for unit, quantity in assets.items():
        raw = bytes.fromhex(unit)
        policy = ScriptHash(raw[:28])
        multi.setdefault(policy, Asset())[AssetName(raw[28:])] = quantity
    return multi


def build_faucet_tx(ledger: Ledger, address: str, lovelace: int, assets: dict[str, int]) -> bytes:
    """A transaction from the genesis wallet paying `lovelace` and `assets` to `address`."""
    context = LedgerChainContext(ledger, include_mempool=True)
    wallet = ledger.genesis.wallet_address
    builder = TransactionBuilder(context)
    builder.add_input_address(wallet)
    amount: Any = Value(lovelace, _multi_asset(assets)) if assets else lovelace
    builder.add_output(TransactionOutput(Address.from_primitive(address), amount))
    tx = builder.build_and_sign([ledger.genesis.wallet_signing_key], change_address=wallet)
    return bytes(tx.to_cbor())
