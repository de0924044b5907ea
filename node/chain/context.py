"""A pycardano ChainContext over the chain port, so pycardano's TransactionBuilder can build with
the node's rate-limited, counted, cached view of the chain."""

from __future__ import annotations

from pycardano import (
    Address,
    ChainContext,
    ExecutionUnits,
    GenesisParameters,
    Network,
    ProtocolParameters,
    Transaction,
    UTxO,
)

from node.chain.port import ChainPort


class PortChainContext(ChainContext):  # type: ignore[misc]  # pycardano is untyped
    def __init__(self, port: ChainPort, network_id: int) -> None:
        self.port = port
        self._network = Network.MAINNET if network_id == 1 else Network.TESTNET
        self.excluded: set[tuple[bytes, int]] = set()

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
        """The address's UTxOs less those spent by our own pending transactions: Blockfrost's
        UTxO index lags its transaction index, and a pending spend is not yet on chain."""
        return [
            utxo
            for utxo in self.port.utxos_at(address)
            if (bytes(utxo.input.transaction_id), utxo.input.index) not in self.excluded
        ]

    def largest_ada_only(self, address: Address | str) -> UTxO | None:
        """The address's largest spendable UTxO holding only ADA and no script (a one-shot seed,
        the best collateral)."""
        plain = [
            utxo
            for utxo in self.utxos(str(address))
            if not utxo.output.amount.multi_asset and utxo.output.script is None
        ]
        return max(plain, key=_by_lovelace, default=None)

    def collateral_for(self, address: Address | str) -> UTxO | None:
        """The largest ADA-only UTxO, else the one with the most lovelace (its tokens go back in
        the collateral return). pycardano would take any UTxO, an agent NFT's 5-ADA one
        included, which cannot cover both the collateral and a return carrying the NFT."""
        found = self.largest_ada_only(address)
        if found is not None:
            return found
        keyed = [utxo for utxo in self.utxos(str(address)) if utxo.output.script is None]
        return max(keyed, key=_by_lovelace, default=None)

    def submit_tx_cbor(self, cbor: bytes | str) -> str:
        return self.port.submit(bytes.fromhex(cbor) if isinstance(cbor, str) else cbor)

    def evaluate_tx(self, tx: Transaction) -> dict[str, ExecutionUnits]:
        return self.port.evaluate(bytes(tx.to_cbor()))

    def evaluate_tx_cbor(self, cbor: bytes | str) -> dict[str, ExecutionUnits]:
        return self.port.evaluate(bytes.fromhex(cbor) if isinstance(cbor, str) else cbor)


def _by_lovelace(utxo: UTxO) -> tuple[int, bytes]:
    return utxo.output.amount.coin, utxo.input.to_cbor()
