"""The one port through which the node sees the chain, and the facts it answers with.

Everything above `node/chain` reads the chain through `ChainPort`; `BlockfrostChain` implements it
for the devnet, preview, preprod and mainnet alike. Times are POSIX milliseconds, amounts integers
(unit "lovelace" or policy id + asset name hex).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycardano import ExecutionUnits, ProtocolParameters, UTxO


class ChainError(Exception):
    """The chain could not answer."""


class ChainNotFound(ChainError):
    """What was asked for does not exist (Blockfrost 404)."""


class ChainUnavailable(ChainError):
    """Blockfrost kept failing (429, 5xx, timeouts) after every retry."""


class TransactionRejected(ChainError):
    """The ledger refused a transaction; the message is its reason."""


class SubmitOutcomeUnknown(ChainError):
    """A submit timed out or lost its connection: the transaction may or may not have landed."""


@dataclass(frozen=True)
class Tip:
    hash: str
    height: int
    slot: int
    time_ms: int
    previous_hash: str | None = None
    tx_count: int | None = None  # transactions in the tip's block


@dataclass(frozen=True)
class BlockInfo:
    hash: str
    height: int
    slot: int
    time_ms: int
    confirmations: int


@dataclass(frozen=True)
class TxInfo:
    hash: str
    block_hash: str
    block_height: int
    block_time_ms: int
    slot: int
    index: int
    fees: int
    size: int
    valid_contract: bool
    invalid_before: int | None
    invalid_hereafter: int | None


@dataclass(frozen=True)
class TxIo:
    """An input or output of a transaction, as the chain shows it."""

    address: str
    amount: dict[str, int]
    tx_hash: str
    output_index: int
    data_hash: str | None = None
    inline_datum: str | None = None
    reference_script_hash: str | None = None
    collateral: bool = False
    reference: bool = False


@dataclass(frozen=True)
class TxUtxos:
    hash: str
    inputs: list[TxIo]
    outputs: list[TxIo]


@dataclass(frozen=True)
class TxRedeemer:
    tx_index: int
    purpose: str
    script_hash: str
    redeemer_data_hash: str
    mem: int
    steps: int
    fee: int


@dataclass(frozen=True)
class TxMetadata:
    label: int
    json_metadata: Any


@dataclass(frozen=True)
class AddressTx:
    tx_hash: str
    tx_index: int
    block_height: int
    block_time_ms: int


@dataclass(frozen=True)
class AssetInfo:
    unit: str
    policy_id: str
    asset_name: str
    quantity: int
    initial_mint_tx_hash: str
    onchain_metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class AssetHolder:
    address: str
    quantity: int


@dataclass(frozen=True)
class PolicyAsset:
    unit: str
    quantity: int


@dataclass(frozen=True)
class ChainParameters:
    """Protocol parameters for pycardano, plus the raw cost-model arrays in ledger order."""

    pycardano: ProtocolParameters
    cost_models_raw: dict[str, list[int]] = field(default_factory=dict)
    coins_per_utxo_byte: int = 4310


class ChainPort(Protocol):
    def tip(self) -> Tip: ...

    def block(self, hash_or_height: str | int) -> BlockInfo: ...

    def protocol_parameters(self) -> ChainParameters: ...

    def utxos_at(self, address: str, asset: str | None = None) -> list[UTxO]: ...

    def transaction(self, tx_hash: str) -> TxInfo: ...

    def transaction_utxos(self, tx_hash: str) -> TxUtxos: ...

    def transaction_cbor(self, tx_hash: str) -> bytes: ...

    def transaction_metadata(self, tx_hash: str) -> list[TxMetadata]: ...

    def transaction_redeemers(self, tx_hash: str) -> list[TxRedeemer]: ...

    def address_transactions(
        self, address: str, *, page: int = 1, count: int = 100, newest_first: bool = True
    ) -> list[AddressTx]: ...

    def asset(self, unit: str) -> AssetInfo: ...

    def asset_holders(self, unit: str) -> list[AssetHolder]: ...

    def policy_assets(
        self, policy_id: str, *, page: int = 1, count: int = 100
    ) -> list[PolicyAsset]: ...

    def script_cbor(self, script_hash: str) -> bytes: ...

    def submit(self, tx_cbor: bytes) -> str: ...

    def evaluate(
        self, tx_cbor: bytes, additional_utxos: Sequence[UTxO] = ()
    ) -> dict[str, ExecutionUnits]:
        """Execution units per redeemer. The evaluator sees the ledger tip, not the mempool:
        `additional_utxos` are the outputs of still-pending transactions the tx spends."""
        ...
