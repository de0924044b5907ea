"""The devnet ledger: UTxO set, mempool, blocks, clock, rollbacks and the query indexes.

One re-entrant lock guards every state change and query, so concurrent submissions are
validated and applied one at a time (two spends of one UTxO: exactly one wins).
"""

from __future__ import annotations

import bisect
import hashlib
import importlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from devnet import phase1
from devnet.errors import LedgerError, LedgerRejection, NotFound
from devnet.genesis import EPOCH_LENGTH_SLOTS, Genesis
from devnet.params import ProtocolParams
from devnet.phase1 import DecodedTx, Output, Script, TxIn, Validated

if TYPE_CHECKING:
    from pycardano import PaymentSigningKey

    from devnet.phase2 import RedeemerEval, SlotConfig

Mode = Literal["manual", "realtime"]
SLOT_LENGTH_MS = 1000
MAX_REF_SCRIPTS_BYTES = 204_800  # Conway's per-transaction limit on reference scripts


# ---------------------------------------------------------------------------------------------
# Query results (plain frozen dataclasses; the HTTP layer turns them into Blockfrost JSON)


@dataclass(frozen=True)
class Amount:
    unit: str  # "lovelace" or policy id hex + asset name hex
    quantity: int


@dataclass(frozen=True)
class Block:
    hash: str
    height: int
    slot: int
    time_ms: int
    tx_hashes: tuple[str, ...]
    previous_hash: str | None
    epoch: int
    epoch_slot: int
    size: int  # sum of the transactions' sizes
    fees: int
    output: int  # lovelace in the outputs of its transactions


@dataclass(frozen=True)
class BlockView:
    block: Block
    confirmations: int
    next_hash: str | None


@dataclass(frozen=True)
class UtxoView:
    tx_hash: str
    output_index: int
    address: str
    amount: tuple[Amount, ...]
    data_hash: str | None
    inline_datum: str | None  # CBOR hex
    reference_script_hash: str | None
    block_hash: str


@dataclass(frozen=True)
class TxRef:
    """A transaction in a history: address, asset or metadata-label transactions."""

    tx_hash: str
    block_height: int
    tx_index: int
    block_time_ms: int


@dataclass(frozen=True)
class TxView:
    hash: str
    block_hash: str
    block_height: int
    block_time_ms: int
    slot: int
    index: int
    output_amount: tuple[Amount, ...]
    fees: int
    deposit: int
    size: int
    invalid_before: int | None
    invalid_hereafter: int | None
    utxo_count: int
    withdrawal_count: int
    mir_cert_count: int
    delegation_count: int
    stake_cert_count: int
    pool_update_count: int
    pool_retire_count: int
    asset_mint_or_burn_count: int
    redeemer_count: int
    valid_contract: bool


@dataclass(frozen=True)
class TxInputView:
    address: str
    amount: tuple[Amount, ...]
    tx_hash: str
    output_index: int
    data_hash: str | None
    inline_datum: str | None
    reference_script_hash: str | None
    collateral: bool
    reference: bool


@dataclass(frozen=True)
class TxOutputView:
    address: str
    amount: tuple[Amount, ...]
    output_index: int
    data_hash: str | None
    inline_datum: str | None
    collateral: bool
    reference_script_hash: str | None
    consumed_by_tx: str | None


@dataclass(frozen=True)
class TxUtxos:
    hash: str
    inputs: tuple[TxInputView, ...]
    outputs: tuple[TxOutputView, ...]


@dataclass(frozen=True)
class RedeemerView:
    tx_index: int  # index of the script purpose (input / policy position)
    purpose: str  # spend, mint, cert, reward, vote, propose
    script_hash: str | None
    redeemer_data_hash: str
    redeemer_data_cbor: str
    unit_mem: int
    unit_steps: int
    fee: int


@dataclass(frozen=True)
class MetadataView:
    label: str
    json_metadata: Any
    cbor_metadata: str  # CBOR hex of this label's metadatum


@dataclass(frozen=True)
class LabelTx:
    tx_hash: str
    json_metadata: Any
    cbor_metadata: str
    block_height: int
    tx_index: int


@dataclass(frozen=True)
class AssetView:
    asset: str
    policy_id: str
    asset_name: str | None
    fingerprint: str
    quantity: int
    initial_mint_tx_hash: str
    mint_or_burn_count: int
    onchain_metadata: Any | None
    onchain_metadata_standard: str | None


@dataclass(frozen=True)
class AssetHolder:
    address: str
    quantity: int


@dataclass(frozen=True)
class AssetHistoryEntry:
    tx_hash: str
    amount: int  # absolute quantity minted or burned
    action: Literal["minted", "burned"]


@dataclass(frozen=True)
class ScriptView:
    script_hash: str
    type: str  # timelock, plutusV1, plutusV2, plutusV3
    serialised_size: int | None  # None for timelock scripts, like Blockfrost
    cbor: str  # Plutus: the script bytes hex (CBOR-wrapped flat); timelock: native script CBOR
    native_json: Any | None


class UtxoOverlap(LedgerError):
    """An additional UTxO given for an evaluation is in the ledger already (Ogmios refuses it)."""

    def __init__(self, references: list[TxIn]) -> None:
        self.references = references
        names = ", ".join(f"{txin.tx_id.hex()}#{txin.index}" for txin in references)
        super().__init__(f"additional UTxO entries overlap with the ledger: {names}")


# ---------------------------------------------------------------------------------------------
# Internal records


@dataclass
class _TxRecord:
    tx: DecodedTx
    spent: dict[TxIn, Output]
    referenced: dict[TxIn, Output]
    collateral: dict[TxIn, Output]
    block_height: int = -1
    index: int = -1


@dataclass
class _AssetState:
    quantity: int = 0
    mints: list[tuple[bytes, int]] = field(default_factory=list)  # (tx id, signed quantity)
    cip25: list[tuple[bytes, Any]] = field(default_factory=list)  # (tx id, metadata)
    holders: dict[bytes, int] = field(default_factory=dict)  # address -> quantity
    txs: list[bytes] = field(default_factory=list)


@dataclass
class _Pending:
    validated: Validated


def _amounts(coin: int, assets: Mapping[bytes, int]) -> tuple[Amount, ...]:
    return (Amount("lovelace", coin), *(Amount(unit.hex(), q) for unit, q in assets.items()))


_BECH32_CACHE: dict[bytes, str] = {}


def bech32_of(address: bytes) -> str:
    """Bech32 (or Base58 for Byron) text of an address, cached: histories repeat addresses."""
    text = _BECH32_CACHE.get(address)
    if text is None:
        from pycardano import Address

        text = str(Address.from_primitive(address))
        _BECH32_CACHE[address] = text
    return text


def address_bytes(address: str) -> bytes:
    from pycardano import Address

    return bytes(Address.from_primitive(address).to_primitive())


def asset_fingerprint(unit: bytes) -> str:
    """CIP-14 fingerprint: bech32 "asset" of blake2b-160(policy id ‖ asset name)."""
    from pycardano.crypto.bech32 import encode

    digest = hashlib.blake2b(unit, digest_size=20).digest()
    return str(encode("asset", digest))


def metadatum_to_json(value: Any) -> Any:
    """db-sync's JSON rendering of a metadatum: bytes as 0x-hex, map keys as strings."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {_json_key(k): metadatum_to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [metadatum_to_json(v) for v in value]
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, bytes):
        return "0x" + key.hex()
    return str(key)


def native_script_json(script_cbor: bytes) -> Any:
    import cbor2

    def convert(node: Any) -> Any:
        kind = node[0]
        if kind == 0:
            return {"type": "sig", "keyHash": bytes(node[1]).hex()}
        if kind in (1, 2):
            return {"type": "all" if kind == 1 else "any", "scripts": [convert(n) for n in node[1]]}
        if kind == 3:
            return {
                "type": "atLeast",
                "required": node[1],
                "scripts": [convert(n) for n in node[2]],
            }
        return {"type": "after" if kind == 4 else "before", "slot": node[1]}

    return convert(cbor2.loads(script_cbor))


# ---------------------------------------------------------------------------------------------
# The ledger


class Ledger:
    def __init__(
        self,
        params: ProtocolParams,
        genesis: Genesis,
        *,
        mode: Mode = "manual",
        auto_block: bool = True,
    ) -> None:
        self.params = params
        self.genesis = genesis
        self.mode: Mode = mode
        self.auto_block = auto_block and mode == "manual"
        self._lock = threading.RLock()
        self._clock_ms = genesis.system_start_ms  # manual mode's clock
        self._clock_offset_ms = 0  # realtime mode: advance_time() shifts the wall clock
        self._utxo: dict[TxIn, Output] = {}
        self._utxo_by_address: dict[bytes, dict[TxIn, None]] = {}
        self._utxo_block: dict[bytes, str] = {}  # tx id -> hash of the block holding it
        self._spent_by: dict[TxIn, bytes] = {}
        self._blocks: list[Block] = []
        self._block_by_hash: dict[str, int] = {}
        self._txs: dict[bytes, _TxRecord] = {}
        self._address_txs: dict[bytes, list[bytes]] = {}
        self._assets: dict[bytes, _AssetState] = {}
        self._policy_assets: dict[bytes, dict[bytes, None]] = {}
        self._label_txs: dict[int, list[bytes]] = {}
        self._scripts: dict[bytes, Script] = {}
        self._datums: dict[bytes, bytes] = {}
        self._mempool: list[_Pending] = []
        self._mempool_spent: set[TxIn] = set()
        self._mempool_outputs: dict[TxIn, Output] = {}
        self._mempool_basis: tuple[str, int] | None = None
        self._apply_genesis()

    # Clock ------------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        if self.mode == "manual":
            return self._clock_ms
        return time.time_ns() // 1_000_000 + self._clock_offset_ms

    @property
    def current_slot(self) -> int:
        return max(0, (self.now_ms - self.genesis.system_start_ms) // SLOT_LENGTH_MS)

    @property
    def slot_config(self) -> SlotConfig:
        from devnet.phase2 import SlotConfig

        return SlotConfig(
            zero_time_ms=self.genesis.system_start_ms, zero_slot=0, slot_length_ms=SLOT_LENGTH_MS
        )

    def slot_to_ms(self, slot: int) -> int:
        return self.genesis.system_start_ms + slot * SLOT_LENGTH_MS

    def advance_time(self, seconds: int) -> int:
        """Move the clock forward (manual mode; in realtime mode it shifts the wall clock)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            if self.mode == "manual":
                self._clock_ms += seconds * 1000
            else:
                self._clock_offset_ms += seconds * 1000
            return self.current_slot

    def set_mode(self, mode: Mode, *, auto_block: bool = True) -> None:
        """Switch between manual and realtime mode (a loaded state keeps its clock)."""
        with self._lock:
            now_ms = self.now_ms
            self.mode = mode
            self.auto_block = auto_block and mode == "manual"
            self.restore_clock(now_ms)

    # Genesis ----------------------------------------------------------------------------------

    @property
    def usdm_unit(self) -> str:
        return self.genesis.usdm_unit

    @property
    def genesis_signing_key(self) -> PaymentSigningKey:
        return self.genesis.wallet_signing_key

    def _apply_genesis(self) -> None:
        tx_id = self.genesis.tx_id
        for index, raw in enumerate(self.genesis.output_cbors()):
            output = phase1.decode_output(raw)
            self._add_utxo(TxIn(tx_id, index), output)
            for unit, qty in output.assets.items():
                state = self._asset_state(unit)
                state.quantity += qty
                state.mints.append((tx_id, qty))
                state.holders[output.address] = state.holders.get(output.address, 0) + qty
        block = self._make_block(height=0, slot=0, previous=None, records=[])
        self._blocks.append(block)
        self._block_by_hash[block.hash] = 0
        self._utxo_block[tx_id] = block.hash
        policy_script = self.genesis.usdm_policy_script
        script = Script(0, bytes(policy_script.to_cbor()))
        self._scripts[script.hash] = script

    def _asset_state(self, unit: bytes) -> _AssetState:
        state = self._assets.get(unit)
        if state is None:
            state = self._assets[unit] = _AssetState()
            self._policy_assets.setdefault(unit[:28], {})[unit] = None
        return state

    # Submission -------------------------------------------------------------------------------

    def submit(self, tx_cbor: bytes) -> str:
        """Validate (phase 1, then phase 2) and queue a transaction; in manual mode with
        auto_block it is put in a block at once. Returns the tx hash hex."""
        tx = phase1.decode_transaction(bytes(tx_cbor))
        with self._lock:
            self._refresh_mempool()
            validated = phase1.validate_phase1(
                tx, self._lookup_with_mempool, self.params, self.current_slot
            )
            self._check_ref_scripts_size(validated)
            if tx.redeemers:
                self._check_phase2(validated)
            self._add_to_mempool(_Pending(validated))
            if self.auto_block:
                self.produce_blocks(1)
        return tx.hash_hex

    def evaluate(
        self, tx_cbor: bytes, additional: Mapping[TxIn, Output] | None = None
    ) -> list[RedeemerEval]:
        """Run every redeemer under the maximum tx budget; witnesses are not checked (builders
        evaluate a copy with fake witnesses). Like Blockfrost's evaluator (Ogmios), inputs are
        resolved against the ledger tip, not the mempool: outputs of pending transactions must
        come in `additional` (Ogmios' additional UTxO set), which may not repeat one the
        ledger has (AdditionalUtxoOverlap)."""
        tx = phase1.decode_transaction(bytes(tx_cbor))
        extra = dict(additional or {})
        with self._lock:
            overlap = sorted(txin for txin in extra if txin in self._utxo)
            if overlap:
                raise UtxoOverlap(overlap)

            def lookup(txin: TxIn) -> Output | None:
                found = self._utxo.get(txin)
                return found if found is not None else extra.get(txin)

            spent, referenced, collateral = phase1.resolve_inputs(tx, lookup)
        validated = Validated.unchecked(tx, spent, referenced, collateral)
        return self._run_phase2(
            validated, max_budget=(self.params.max_tx_ex_mem, self.params.max_tx_ex_steps)
        )

    def _check_ref_scripts_size(self, validated: Validated) -> None:
        if validated.ref_script_bytes > MAX_REF_SCRIPTS_BYTES:
            raise LedgerRejection(
                "ref-scripts-too-big",
                f"reference scripts total {validated.ref_script_bytes} B > {MAX_REF_SCRIPTS_BYTES}",
            )

    def _check_phase2(self, validated: Validated) -> None:
        results = self._run_phase2(validated, max_budget=None)
        failed = [r for r in results if not r.ok]
        if failed:
            first = failed[0]
            logs = "; ".join(first.logs[-5:])
            raise LedgerRejection(
                "phase2",
                f"script for {first.tag}:{first.index} failed: {first.error}"
                + (f" (trace: {logs})" if logs else ""),
            )

    def _run_phase2(
        self, validated: Validated, *, max_budget: tuple[int, int] | None
    ) -> list[RedeemerEval]:
        try:
            phase2 = importlib.import_module("devnet.phase2")
        except ImportError as exc:
            raise LedgerRejection(
                "phase2-unavailable", "the Plutus evaluator is not installed"
            ) from exc
        from pycardano import Transaction, TransactionInput, TransactionOutput

        tx = validated.tx
        resolved = {
            TransactionInput.from_primitive([txin.tx_id, txin.index]): TransactionOutput.from_cbor(
                output.cbor
            )
            for txin, output in (*validated.spent.items(), *validated.referenced.items())
        }
        try:
            results: list[RedeemerEval] = phase2.evaluate_transaction(
                Transaction.from_cbor(tx.cbor),
                tx_id=tx.tx_id,
                resolved=resolved,
                slot_config=self.slot_config,
                cost_models=self.params.cost_models_raw,
                protocol_major=self.params.protocol_major,
                witness_datums=tx.witness_datums,  # hash of the original bytes -> those bytes
                max_budget=max_budget,
            )
            return results
        except phase2.Phase2Error as exc:
            raise LedgerRejection("phase2", str(exc)) from exc

    # Mempool ----------------------------------------------------------------------------------

    def _lookup_with_mempool(self, txin: TxIn) -> Output | None:
        if txin in self._mempool_spent:
            return None
        output = self._mempool_outputs.get(txin)
        return output if output is not None else self._utxo.get(txin)

    def _add_to_mempool(self, pending: _Pending) -> None:
        self._mempool.append(pending)
        tx = pending.validated.tx
        self._mempool_spent.update(tx.inputs)
        for index, output in enumerate(tx.outputs):
            self._mempool_outputs[TxIn(tx.tx_id, index)] = output
        self._mempool_basis = (self._blocks[-1].hash, self.current_slot)

    def _refresh_mempool(self) -> None:
        """Re-validate the queued transactions if the chain tip or the slot changed since they
        were validated; those no longer valid are dropped (as a node's mempool does)."""
        basis = (self._blocks[-1].hash, self.current_slot)
        if self._mempool_basis == basis or not self._mempool or self._only_time_moved(basis):
            self._mempool_basis = basis
            return
        queued, self._mempool = self._mempool, []
        self._mempool_spent, self._mempool_outputs = set(), {}
        for pending in queued:
            try:
                validated = phase1.validate_phase1(
                    pending.validated.tx, self._lookup_with_mempool, self.params, self.current_slot
                )
            except LedgerRejection:
                continue
            self._add_to_mempool(_Pending(validated))
        self._mempool_basis = basis

    def _only_time_moved(self, basis: tuple[str, int]) -> bool:
        """Same tip, later slot, and no queued tx expires: every queued tx is still valid (a
        lower bound only gets easier to meet, and native scripts look at the tx's bounds)."""
        if self._mempool_basis is None or self._mempool_basis[0] != basis[0]:
            return False
        slot = basis[1]
        return all(p.validated.tx.ttl is None or slot < p.validated.tx.ttl for p in self._mempool)

    @property
    def mempool(self) -> list[str]:
        with self._lock:
            return [p.validated.tx.hash_hex for p in self._mempool]

    @property
    def mempool_size_bytes(self) -> int:
        """Total size of the queued transactions (a node's mempool capacity is in bytes)."""
        with self._lock:
            return sum(p.validated.tx.size for p in self._mempool)

    # Blocks -----------------------------------------------------------------------------------

    def tick(self) -> Block | None:
        """Realtime mode: called by the server every few seconds; a block when the slot moved."""
        with self._lock:
            if self.current_slot <= self._blocks[-1].slot:
                return None
            return self.produce_blocks(1)[0]

    def produce_blocks(self, count: int = 1) -> list[Block]:
        """Forge `count` blocks at the current slot; the first takes the mempool (up to the
        maximum block size), the others are empty unless the mempool had more."""
        made: list[Block] = []
        with self._lock:
            for _ in range(count):
                self._refresh_mempool()
                made.append(self._forge_block(self._take_block_txs()))
        return made

    def _take_block_txs(self) -> list[_Pending]:
        taken: list[_Pending] = []
        size = 0
        for pending in self._mempool:
            size += pending.validated.tx.size
            if size > self.params.max_block_size and taken:
                break
            taken.append(pending)
        return taken

    def _forge_block(self, taken: list[_Pending]) -> Block:
        height = len(self._blocks)
        slot = self.current_slot
        records = [
            _TxRecord(
                p.validated.tx, p.validated.spent, p.validated.referenced, p.validated.collateral
            )
            for p in taken
        ]
        block = self._make_block(height, slot, self._blocks[-1].hash, records)
        self._blocks.append(block)
        self._block_by_hash[block.hash] = height
        for index, record in enumerate(records):
            record.block_height, record.index = height, index
            self._apply(record, block.hash)
        remaining = self._mempool[len(taken) :]
        self._mempool = []
        self._mempool_spent, self._mempool_outputs = set(), {}
        for pending in remaining:  # still valid: they were validated on top of the taken ones
            self._add_to_mempool(pending)
        self._mempool_basis = (block.hash, self.current_slot)
        return block

    def _make_block(
        self, height: int, slot: int, previous: str | None, records: list[_TxRecord]
    ) -> Block:
        tx_ids = [r.tx.tx_id for r in records]
        seed = b"".join(
            [self.genesis.tx_id, height.to_bytes(8, "big"), slot.to_bytes(8, "big"), *tx_ids]
        )
        if previous:
            seed += bytes.fromhex(previous)
        return Block(
            hash=hashlib.blake2b(seed, digest_size=32).hexdigest(),
            height=height,
            slot=slot,
            time_ms=self.slot_to_ms(slot),
            tx_hashes=tuple(t.hex() for t in tx_ids),
            previous_hash=previous,
            epoch=slot // EPOCH_LENGTH_SLOTS,
            epoch_slot=slot % EPOCH_LENGTH_SLOTS,
            size=sum(len(r.tx.cbor) for r in records),
            fees=sum(r.tx.fee for r in records),
            output=sum(o.coin for r in records for o in r.tx.outputs),
        )

    # Applying and undoing transactions -------------------------------------------------------

    def _add_utxo(self, txin: TxIn, output: Output) -> None:
        self._utxo[txin] = output
        self._utxo_by_address.setdefault(output.address, {})[txin] = None

    def _remove_utxo(self, txin: TxIn) -> Output:
        output = self._utxo.pop(txin)
        at_address = self._utxo_by_address[output.address]
        del at_address[txin]
        if not at_address:
            del self._utxo_by_address[output.address]
        return output

    def _apply(self, record: _TxRecord, block_hash: str) -> None:
        tx = record.tx
        for txin in tx.inputs:
            self._remove_utxo(txin)
            self._spent_by[txin] = tx.tx_id
        for index, output in enumerate(tx.outputs):
            self._add_utxo(TxIn(tx.tx_id, index), output)
        self._utxo_block[tx.tx_id] = block_hash
        self._txs[tx.tx_id] = record
        self._index(record)

    def _undo(self, record: _TxRecord) -> None:
        tx = record.tx
        self._unindex(record)
        del self._txs[tx.tx_id]
        del self._utxo_block[tx.tx_id]
        for index in range(len(tx.outputs)):
            self._remove_utxo(TxIn(tx.tx_id, index))
        for txin, output in record.spent.items():
            self._add_utxo(txin, output)
            del self._spent_by[txin]

    def _index(self, record: _TxRecord) -> None:
        tx = record.tx
        for address in self._addresses_of(record):
            self._address_txs.setdefault(address, []).append(tx.tx_id)
        for label in tx.metadata:
            self._label_txs.setdefault(label, []).append(tx.tx_id)
        for unit, delta_by_address in self._asset_moves(record).items():
            state = self._asset_state(unit)
            state.txs.append(tx.tx_id)
            for address, delta in delta_by_address.items():
                held = state.holders.get(address, 0) + delta
                if held:
                    state.holders[address] = held
                else:
                    state.holders.pop(address, None)
        for policy, names in tx.mint.items():
            for name, qty in names.items():
                state = self._asset_state(policy + name)
                state.quantity += qty
                state.mints.append((tx.tx_id, qty))
                cip25 = _cip25_metadata(tx.metadata, policy, name) if qty > 0 else None
                if cip25 is not None:
                    state.cip25.append((tx.tx_id, cip25))
        for script in tx.witness_scripts.values():
            self._scripts.setdefault(script.hash, script)
        for output in tx.outputs:
            if output.script_ref is not None:
                self._scripts.setdefault(output.script_ref.hash, output.script_ref)
            if output.inline_datum is not None and output.datum_hash is not None:
                self._datums.setdefault(output.datum_hash, output.inline_datum)
        for datum_hash, raw in tx.witness_datums.items():
            self._datums.setdefault(datum_hash, raw)

    def _unindex(self, record: _TxRecord) -> None:
        """Exact inverse of `_index` for the last applied transaction. Scripts and datums stay
        known: they are content-addressed, so keeping them cannot give a wrong answer."""
        tx = record.tx
        for address in self._addresses_of(record):
            _pop_last(self._address_txs, address, tx.tx_id)
        for label in tx.metadata:
            _pop_last(self._label_txs, label, tx.tx_id)
        for unit, delta_by_address in self._asset_moves(record).items():
            state = self._assets[unit]
            state.txs.pop()
            for address, delta in delta_by_address.items():
                held = state.holders.get(address, 0) - delta
                if held:
                    state.holders[address] = held
                else:
                    state.holders.pop(address, None)
        for policy, names in tx.mint.items():
            for name, qty in names.items():
                unit = policy + name
                state = self._assets[unit]
                state.quantity -= qty
                state.mints.pop()
                if state.cip25 and state.cip25[-1][0] == tx.tx_id:
                    state.cip25.pop()
                if not state.mints:
                    del self._assets[unit]
                    del self._policy_assets[policy][unit]
                    if not self._policy_assets[policy]:
                        del self._policy_assets[policy]

    @staticmethod
    def _addresses_of(record: _TxRecord) -> list[bytes]:
        seen: dict[bytes, None] = {}
        for output in record.spent.values():
            seen[output.address] = None
        for output in record.tx.outputs:
            seen[output.address] = None
        return list(seen)

    @staticmethod
    def _asset_moves(record: _TxRecord) -> dict[bytes, dict[bytes, int]]:
        """Per asset, the change of each address's holding (asset seen in inputs, outputs or
        mint; a mint-only-and-burnt asset shows with an empty change)."""
        moves: dict[bytes, dict[bytes, int]] = {}
        for output in record.spent.values():
            for unit, qty in output.assets.items():
                by_address = moves.setdefault(unit, {})
                by_address[output.address] = by_address.get(output.address, 0) - qty
        for output in record.tx.outputs:
            for unit, qty in output.assets.items():
                by_address = moves.setdefault(unit, {})
                by_address[output.address] = by_address.get(output.address, 0) + qty
        for policy, names in record.tx.mint.items():
            for name in names:
                moves.setdefault(policy + name, {})
        return moves

    # Rollback ---------------------------------------------------------------------------------

    def rollback(self, blocks: int, drop: bool = False) -> list[str]:
        """Undo the last `blocks` blocks exactly. Their transactions go back to the front of the
        mempool (re-validated before the next block) or, with drop=True, are discarded.
        Returns the hashes of the transactions taken out of the chain."""
        with self._lock:
            if blocks < 0 or blocks > len(self._blocks) - 1:
                raise LedgerError(f"can roll back 0..{len(self._blocks) - 1} blocks, not {blocks}")
            undone: list[_TxRecord] = []
            for _ in range(blocks):
                block = self._blocks.pop()
                del self._block_by_hash[block.hash]
                records = [self._txs[bytes.fromhex(h)] for h in block.tx_hashes]
                for record in reversed(records):
                    self._undo(record)
                undone[:0] = records
            returned = [] if drop else [_Pending(self._revalidation_stub(r)) for r in undone]
            self._mempool = returned + self._mempool
            self._mempool_basis = None  # force re-validation against the rolled-back chain
            return [r.tx.hash_hex for r in undone]

    @staticmethod
    def _revalidation_stub(record: _TxRecord) -> Validated:
        return Validated.unchecked(record.tx, record.spent, record.referenced, record.collateral)

    # Replay (persistence) ---------------------------------------------------------------------

    def replay_block(self, slot: int, tx_cbors: list[bytes]) -> Block:
        """Re-apply a block from a saved state without validating it again (it was valid)."""
        taken: list[_Pending] = []
        overlay: dict[TxIn, Output] = {}
        for raw in tx_cbors:
            tx = phase1.decode_transaction(raw)

            def resolve(txin: TxIn) -> Output:
                output = overlay.get(txin) or self._utxo.get(txin)
                if output is None:
                    raise LedgerError(f"saved state is inconsistent at {txin}")
                return output

            spent = {t: resolve(t) for t in tx.inputs}
            referenced = {t: resolve(t) for t in tx.reference_inputs}
            collateral = {t: resolve(t) for t in tx.collateral_inputs}
            overlay.update({TxIn(tx.tx_id, i): o for i, o in enumerate(tx.outputs)})
            taken.append(_Pending(Validated.unchecked(tx, spent, referenced, collateral)))
        saved_clock, saved_mode = self._clock_ms, self.mode
        self._clock_ms, self.mode = self.slot_to_ms(slot), "manual"
        try:
            self._mempool, self._mempool_basis = [], None
            return self._forge_block(taken)
        finally:
            self._clock_ms, self.mode = saved_clock, saved_mode

    def restore_clock(self, now_ms: int) -> None:
        """Set the clock of a loaded state (realtime mode keeps wall time if it is later)."""
        with self._lock:
            if self.mode == "manual":
                self._clock_ms = now_ms
            else:
                self._clock_offset_ms = max(0, now_ms - time.time_ns() // 1_000_000)

    def restore_mempool(self, tx_cbors: list[bytes]) -> None:
        """Queue saved mempool transactions; they are re-validated before the next block."""
        with self._lock:
            for raw in tx_cbors:
                tx = phase1.decode_transaction(raw)
                self._mempool.append(_Pending(Validated.unchecked(tx)))
            self._mempool_basis = None

    # Faucet -----------------------------------------------------------------------------------

    def faucet(self, address: str, lovelace: int, assets: Mapping[str, int] | None = None) -> str:
        """Pay from the genesis wallet with a real signed transaction; returns its hash."""
        from devnet.context import build_faucet_tx

        with self._lock:
            tx_cbor = build_faucet_tx(self, address, lovelace, dict(assets or {}))
            return self.submit(tx_cbor)

    # Queries ----------------------------------------------------------------------------------

    def utxo_snapshot(self) -> dict[TxIn, bytes]:
        """The whole UTxO set as {input: output CBOR} (tests compare snapshots)."""
        with self._lock:
            return {txin: output.cbor for txin, output in self._utxo.items()}

    def utxo(self, txin: TxIn, *, include_mempool: bool = False) -> Output | None:
        """An unspent output; with include_mempool, as the queued transactions leave it."""
        with self._lock:
            if include_mempool:
                return self._lookup_with_mempool(txin)
            return self._utxo.get(txin)

    def outputs_at(
        self, address: bytes, *, include_mempool: bool = False
    ) -> list[tuple[TxIn, Output]]:
        """Unspent outputs at an address; with include_mempool, as the mempool will leave them."""
        with self._lock:
            found = [(t, self._utxo[t]) for t in self._utxo_by_address.get(address, {})]
            if not include_mempool:
                return found
            found = [(t, o) for t, o in found if t not in self._mempool_spent]
            found += [
                (t, o)
                for t, o in self._mempool_outputs.items()
                if o.address == address and t not in self._mempool_spent
            ]
            return found

    def tip(self) -> Block:
        with self._lock:
            return self._blocks[-1]

    def block(self, hash_or_height: str | int) -> BlockView:
        with self._lock:
            height = self._block_height(hash_or_height)
            block = self._blocks[height]
            following = self._blocks[height + 1].hash if height + 1 < len(self._blocks) else None
            return BlockView(block, len(self._blocks) - 1 - height, following)

    def _block_height(self, hash_or_height: str | int) -> int:
        if isinstance(hash_or_height, int) or hash_or_height.isdigit():
            height = int(hash_or_height)
            if 0 <= height < len(self._blocks):
                return height
        elif hash_or_height in self._block_by_hash:
            return self._block_by_hash[hash_or_height]
        raise NotFound(f"block {hash_or_height} not found")

    def blocks_after(self, height: int, count: int = 100) -> list[Block]:
        with self._lock:
            return self._blocks[height + 1 : height + 1 + count]

    def blocks_in_epoch(self, epoch: int) -> list[Block]:
        """The blocks of one epoch (blocks are in slot order, so a binary search finds them)."""
        with self._lock:
            first = bisect.bisect_left(self._blocks, epoch, key=lambda b: b.epoch)
            last = bisect.bisect_right(self._blocks, epoch, key=lambda b: b.epoch)
            return self._blocks[first:last]

    def lovelace_in_utxos(self) -> int:
        """All lovelace held by unspent outputs (the devnet's circulating supply)."""
        with self._lock:
            return sum(output.coin for output in self._utxo.values())

    def utxos_at(self, address: str) -> list[UtxoView]:
        """UTxOs at an address, oldest first."""
        with self._lock:
            return [self._utxo_view(t, o) for t, o in self.outputs_at(address_bytes(address))]

    def asset_utxos_at(self, address: str, unit: str) -> list[UtxoView]:
        key = bytes.fromhex(unit)
        with self._lock:
            return [
                self._utxo_view(t, o)
                for t, o in self.outputs_at(address_bytes(address))
                if key in o.assets
            ]

    def _utxo_view(self, txin: TxIn, output: Output) -> UtxoView:
        return UtxoView(
            tx_hash=txin.tx_id.hex(),
            output_index=txin.index,
            address=bech32_of(output.address),
            amount=_amounts(output.coin, output.assets),
            data_hash=_hex(output.datum_hash),
            inline_datum=_hex(output.inline_datum),
            reference_script_hash=_hex(output.script_ref.hash if output.script_ref else None),
            block_hash=self._utxo_block[txin.tx_id],
        )

    def _tx_ref(self, tx_id: bytes) -> TxRef:
        record = self._txs[tx_id]
        return TxRef(
            tx_id.hex(),
            record.block_height,
            record.index,
            self._blocks[record.block_height].time_ms,
        )

    def address_transactions(self, address: str) -> list[TxRef]:
        """Transactions touching an address (inputs or outputs), in chain order."""
        with self._lock:
            return [self._tx_ref(t) for t in self._address_txs.get(address_bytes(address), [])]

    def _record(self, tx_hash: str) -> _TxRecord:
        try:
            return self._txs[bytes.fromhex(tx_hash)]
        except (KeyError, ValueError) as exc:
            raise NotFound(f"transaction {tx_hash} not found") from exc

    def transaction(self, tx_hash: str) -> TxView:
        with self._lock:
            record = self._record(tx_hash)
            tx = record.tx
            block = self._blocks[record.block_height]
            coin = sum(o.coin for o in tx.outputs)
            assets: dict[bytes, int] = {}
            for output in tx.outputs:
                for unit, qty in output.assets.items():
                    assets[unit] = assets.get(unit, 0) + qty
            return TxView(
                hash=tx.hash_hex,
                block_hash=block.hash,
                block_height=block.height,
                block_time_ms=block.time_ms,
                slot=block.slot,
                index=record.index,
                output_amount=_amounts(coin, assets),
                fees=tx.fee,
                deposit=0,
                size=len(tx.cbor),  # Blockfrost counts the whole CBOR
                invalid_before=tx.validity_start,
                invalid_hereafter=tx.ttl,
                utxo_count=len(tx.inputs) + len(tx.outputs),
                withdrawal_count=0,
                mir_cert_count=0,
                delegation_count=0,
                stake_cert_count=0,
                pool_update_count=0,
                pool_retire_count=0,
                asset_mint_or_burn_count=sum(len(n) for n in tx.mint.values()),
                redeemer_count=len(tx.redeemers),
                valid_contract=tx.is_valid,
            )

    def transaction_cbor(self, tx_hash: str) -> bytes:
        with self._lock:
            return self._record(tx_hash).tx.cbor

    def transaction_utxos(self, tx_hash: str) -> TxUtxos:
        with self._lock:
            record = self._record(tx_hash)
            inputs = [
                self._input_view(t, o, collateral=False, reference=False)
                for t, o in record.spent.items()
            ]
            inputs += [
                self._input_view(t, o, collateral=True, reference=False)
                for t, o in record.collateral.items()
            ]
            inputs += [
                self._input_view(t, o, collateral=False, reference=True)
                for t, o in record.referenced.items()
            ]
            outputs = [
                self._output_view(TxIn(record.tx.tx_id, i), o)
                for i, o in enumerate(record.tx.outputs)
            ]
            return TxUtxos(record.tx.hash_hex, tuple(inputs), tuple(outputs))

    @staticmethod
    def _input_view(
        txin: TxIn, output: Output, *, collateral: bool, reference: bool
    ) -> TxInputView:
        return TxInputView(
            address=bech32_of(output.address),
            amount=_amounts(output.coin, output.assets),
            tx_hash=txin.tx_id.hex(),
            output_index=txin.index,
            data_hash=_hex(output.datum_hash),
            inline_datum=_hex(output.inline_datum),
            reference_script_hash=_hex(output.script_ref.hash if output.script_ref else None),
            collateral=collateral,
            reference=reference,
        )

    def _output_view(self, txin: TxIn, output: Output) -> TxOutputView:
        spender = self._spent_by.get(txin)
        return TxOutputView(
            address=bech32_of(output.address),
            amount=_amounts(output.coin, output.assets),
            output_index=txin.index,
            data_hash=_hex(output.datum_hash),
            inline_datum=_hex(output.inline_datum),
            collateral=False,
            reference_script_hash=_hex(output.script_ref.hash if output.script_ref else None),
            consumed_by_tx=spender.hex() if spender else None,
        )

    def transaction_redeemers(self, tx_hash: str) -> list[RedeemerView]:
        with self._lock:
            record = self._record(tx_hash)
            tx = record.tx
            targets = self._redeemer_targets(record)
            return [
                RedeemerView(
                    tx_index=r.index,
                    purpose=r.tag_name,
                    script_hash=_hex(targets.get((r.tag, r.index))),
                    redeemer_data_hash=phase1.blake2b_256(r.data).hex(),
                    redeemer_data_cbor=r.data.hex(),
                    unit_mem=r.mem,
                    unit_steps=r.steps,
                    fee=phase1.script_fee(r.mem, r.steps, self.params),
                )
                for r in tx.redeemers
            ]

    @staticmethod
    def _redeemer_targets(record: _TxRecord) -> dict[tuple[int, int], bytes]:
        targets: dict[tuple[int, int], bytes] = {}
        for index, txin in enumerate(sorted(record.tx.inputs)):
            credential = record.spent[txin].payment_credential
            if credential is not None and credential[0]:
                targets[(0, index)] = credential[1]
        for index, policy in enumerate(sorted(record.tx.mint)):
            targets[(1, index)] = policy
        return targets

    def transaction_metadata(self, tx_hash: str) -> list[MetadataView]:
        with self._lock:
            tx = self._record(tx_hash).tx
            return [
                MetadataView(str(label), metadatum_to_json(value), tx.metadata_cbor[label].hex())
                for label, value in tx.metadata.items()
            ]

    def label_transactions(self, label: int) -> list[LabelTx]:
        with self._lock:
            found = []
            for tx_id in self._label_txs.get(label, []):
                record = self._txs[tx_id]
                found.append(
                    LabelTx(
                        tx_id.hex(),
                        metadatum_to_json(record.tx.metadata[label]),
                        record.tx.metadata_cbor[label].hex(),
                        record.block_height,
                        record.index,
                    )
                )
            return found

    def metadata_labels(self) -> dict[int, int]:
        """Every metadata label used on chain, with how many transactions carry it."""
        with self._lock:
            return {label: len(txs) for label, txs in sorted(self._label_txs.items()) if txs}

    def _asset(self, unit: str) -> tuple[bytes, _AssetState]:
        try:
            key = bytes.fromhex(unit)
            return key, self._assets[key]
        except (KeyError, ValueError) as exc:
            raise NotFound(f"asset {unit} not found") from exc

    def asset(self, unit: str) -> AssetView:
        with self._lock:
            key, state = self._asset(unit)
            metadata = state.cip25[-1][1] if state.cip25 else None
            return AssetView(
                asset=key.hex(),
                policy_id=key[:28].hex(),
                asset_name=key[28:].hex() or None,
                fingerprint=asset_fingerprint(key),
                quantity=state.quantity,
                initial_mint_tx_hash=state.mints[0][0].hex(),
                mint_or_burn_count=len(state.mints),
                onchain_metadata=metadata,
                onchain_metadata_standard="CIP25v1" if metadata is not None else None,
            )

    def asset_holders(self, unit: str) -> list[AssetHolder]:
        with self._lock:
            _, state = self._asset(unit)
            return [AssetHolder(bech32_of(a), q) for a, q in state.holders.items()]

    def policy_assets(self, policy_id: str) -> list[AssetHolder]:
        """Assets of a policy with their quantities (AssetHolder.address holds the unit)."""
        with self._lock:
            units = self._policy_assets.get(bytes.fromhex(policy_id), {})
            return [AssetHolder(u.hex(), self._assets[u].quantity) for u in units]

    def asset_history(self, unit: str) -> list[AssetHistoryEntry]:
        with self._lock:
            _, state = self._asset(unit)
            return [
                AssetHistoryEntry(t.hex(), abs(q), "minted" if q > 0 else "burned")
                for t, q in state.mints
            ]

    def asset_transactions(self, unit: str) -> list[TxRef]:
        with self._lock:
            _, state = self._asset(unit)
            return [self._tx_ref(t) for t in state.txs]

    def script(self, script_hash: str) -> ScriptView:
        with self._lock:
            try:
                script = self._scripts[bytes.fromhex(script_hash)]
            except (KeyError, ValueError) as exc:
                raise NotFound(f"script {script_hash} not found") from exc
        native = script.prefix == 0
        return ScriptView(
            script_hash=script.hash.hex(),
            type=script.type,
            serialised_size=None if native else len(script.body),
            cbor=script.body.hex(),
            native_json=native_script_json(script.body) if native else None,
        )

    def datum(self, datum_hash: str) -> bytes:
        """Original CBOR of a datum seen in a witness set or as an inline datum."""
        with self._lock:
            try:
                return self._datums[bytes.fromhex(datum_hash)]
            except (KeyError, ValueError) as exc:
                raise NotFound(f"datum {datum_hash} not found") from exc

    # Persistence ------------------------------------------------------------------------------

    def save(self, path: str) -> None:
        from devnet.state import save_ledger

        with self._lock:
            save_ledger(self, path)

    @classmethod
    def load(cls, path: str) -> Ledger:
        from devnet.state import load_ledger

        return load_ledger(path)

    def chain_for_saving(self) -> Iterator[tuple[Block, list[bytes]]]:
        """Blocks after genesis with the CBOR of their transactions, in order."""
        for block in self._blocks[1:]:
            yield block, [self._txs[bytes.fromhex(h)].tx.cbor for h in block.tx_hashes]

    def mempool_cbors(self) -> list[bytes]:
        return [p.validated.tx.cbor for p in self._mempool]


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


def _pop_last(index: dict[Any, list[bytes]], key: Any, tx_id: bytes) -> None:
    entries = index[key]
    if entries and entries[-1] == tx_id:
        entries.pop()
    if not entries:
        del index[key]


def _cip25_metadata(metadata: Mapping[int, Any], policy: bytes, name: bytes) -> Any | None:
    """The CIP-25 (label 721) entry of one asset; policy and name keys may be text or bytes."""
    root = metadata.get(721)
    if not isinstance(root, dict):
        return None
    by_policy = root.get(policy.hex(), root.get(policy))
    if not isinstance(by_policy, dict):
        return None
    for key in (name, name.hex()):
        if key in by_policy:
            return metadatum_to_json(by_policy[key])
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return None
    entry = by_policy.get(text)
    return metadatum_to_json(entry) if entry is not None else None
