"""A pycardano ChainContext over the chain port, so pycardano's TransactionBuilder can build with
the node's rate-limited, counted, cached view of the chain.

A wallet's own pending transactions shape that view: their inputs are kept out of coin selection
(`excluded`), and their change is offered with the chain's UTxOs (`pending`), so one wallet can
chain several transactions into one block: a node's mempool accepts a transaction spending
outputs of transactions still in it. Blockfrost's evaluator sees only the ledger, so the pending
outputs a transaction spends go to it as an additional UTxO set. Collateral and one-shot seeds
stay confirmed outputs no pending transaction spends.
"""

from __future__ import annotations

from collections.abc import Iterable

from pycardano import (
    Address,
    ChainContext,
    ExecutionUnits,
    GenesisParameters,
    Network,
    ProtocolParameters,
    Transaction,
    TransactionInput,
    UTxO,
)

from node.chain.port import ChainPort


class PortChainContext(ChainContext):  # type: ignore[misc]  # pycardano is untyped
    def __init__(self, port: ChainPort, network_id: int, *, one_build: bool = False) -> None:
        self.port = port
        self._network = Network.MAINNET if network_id == 1 else Network.TESTNET
        self.excluded: set[tuple[bytes, int]] = set()
        self.pending: dict[tuple[bytes, int], UTxO] = {}
        self._on_chain: set[tuple[bytes, int]] = set()  # references the chain has shown
        # `one_build`: coin selection, collateral and change of one build all ask for the
        # payer's UTxOs; one answer per address saves requests, and they must agree anyway.
        self._utxos_at: dict[str, list[UTxO]] | None = {} if one_build else None

    @property
    def protocol_param(self) -> ProtocolParameters:
        return self.port.protocol_parameters().pycardano

    @property
    def genesis_param(self) -> GenesisParameters:
        raise AttributeError("the node builds no transaction that needs genesis parameters")

    @property
    def network(self) -> Network:
        return self._network

    @property
    def epoch(self) -> int:
        raise AttributeError("the node builds no transaction that needs the epoch")

    @property
    def last_block_slot(self) -> int:
        return self.port.tip().slot

    def _utxos(self, address: str) -> list[UTxO]:
        """What coin selection may spend: the address's UTxOs less those spent by our own
        pending transactions (Blockfrost's UTxO index lags its transaction index, and a pending
        spend is not yet on chain), plus the outputs our pending transactions pay to it (one
        reference once); less the collateral while the rest holds enough ADA, so that the
        transactions chained after this one find it again."""
        confirmed = self.confirmed_utxos(address)
        seen = {_reference(utxo) for utxo in confirmed}
        chained = [
            utxo
            for reference, utxo in self.pending.items()
            if reference not in seen
            and reference not in self.excluded
            and str(utxo.output.address) == address
        ]
        found = confirmed + chained
        collateral = _collateral_among(confirmed)
        if collateral is None:
            return found
        rest = [utxo for utxo in found if utxo.input != collateral.input]
        if sum(utxo.output.amount.coin for utxo in _ada_only(rest)) >= KEEP_APART_LOVELACE:
            return rest
        return found

    def confirmed_utxos(self, address: Address | str) -> list[UTxO]:
        """What the chain shows at the address, less what our pending transactions spend."""
        key = str(address)
        if self._utxos_at is None:
            shown = self.port.utxos_at(key)
        elif key in self._utxos_at:
            shown = self._utxos_at[key]
        else:
            shown = self._utxos_at[key] = self.port.utxos_at(key)
        found = [utxo for utxo in shown if _reference(utxo) not in self.excluded]
        self._on_chain.update(_reference(utxo) for utxo in found)
        return found

    def largest_ada_only(self, address: Address | str) -> UTxO | None:
        """The address's largest confirmed spendable UTxO holding only ADA and no script (a
        one-shot seed must not hang on a pending transaction)."""
        return max(_ada_only(self.confirmed_utxos(address)), key=_by_lovelace, default=None)

    def collateral_for(self, address: Address | str) -> UTxO | None:
        """A confirmed UTxO no pending transaction spends (some nodes refuse a collateral input
        that is a mempool output): the smallest ADA-only one that covers a collateral, else the
        largest ADA-only one, else the one with the most lovelace (its tokens go back in the
        collateral return). pycardano would take any UTxO, an agent NFT's 5-ADA one included,
        which cannot cover both the collateral and a return carrying the NFT. None: there is
        no such UTxO now (the wallet's funds wait in its pending transactions)."""
        confirmed = self.confirmed_utxos(address)
        found = _collateral_among(confirmed)
        if found is not None:
            return found
        keyed = [utxo for utxo in confirmed if utxo.output.script is None]
        return max(keyed, key=_by_lovelace, default=None)

    def unconfirmed_inputs(self, tx: Transaction) -> list[UTxO]:
        """The pending outputs `tx` spends, references or takes as collateral that the chain
        has not shown: the evaluator's additional UTxO set."""
        body = tx.transaction_body
        references: Iterable[TransactionInput] = [
            *body.inputs,
            *(body.reference_inputs or []),
            *(body.collateral or []),
        ]
        found: dict[tuple[bytes, int], UTxO] = {}
        for txin in references:
            key = (bytes(txin.transaction_id), int(txin.index))
            if key in self.pending and key not in self._on_chain:
                found[key] = self.pending[key]
        return list(found.values())

    def submit_tx_cbor(self, cbor: bytes | str) -> str:
        return self.port.submit(bytes.fromhex(cbor) if isinstance(cbor, str) else cbor)

    def evaluate_tx(self, tx: Transaction) -> dict[str, ExecutionUnits]:
        return self.port.evaluate(bytes(tx.to_cbor()), self.unconfirmed_inputs(tx))

    def evaluate_tx_cbor(self, cbor: bytes | str) -> dict[str, ExecutionUnits]:
        raw = bytes.fromhex(cbor) if isinstance(cbor, str) else cbor
        return self.port.evaluate(raw, self.unconfirmed_inputs(Transaction.from_cbor(raw)))


COLLATERAL_LOVELACE = 5_000_000  # covers 150 % of the largest fee and leaves a valid return
KEEP_APART_LOVELACE = 3_000_000  # ADA besides the collateral enough for a fee and change


def _collateral_among(utxos: list[UTxO]) -> UTxO | None:
    """The smallest ADA-only UTxO that covers a collateral, else the largest ADA-only one."""
    plain = _ada_only(utxos)
    enough = [utxo for utxo in plain if utxo.output.amount.coin >= COLLATERAL_LOVELACE]
    if enough:
        return min(enough, key=_by_lovelace)
    return max(plain, key=_by_lovelace, default=None)


def _reference(utxo: UTxO) -> tuple[bytes, int]:
    return bytes(utxo.input.transaction_id), int(utxo.input.index)


def _ada_only(utxos: list[UTxO]) -> list[UTxO]:
    return [u for u in utxos if not u.output.amount.multi_asset and u.output.script is None]


def _by_lovelace(utxo: UTxO) -> tuple[int, bytes]:
    return utxo.output.amount.coin, utxo.input.to_cbor()
