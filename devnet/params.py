"""Protocol parameters: exact integers and Fractions, loaded from Blockfrost-shaped JSON.

Prices in the JSON file are decimals such as ``0.0577``; they are parsed as exact Fractions from
their text (never through float), so fees are computed exactly like the ledger does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

DEFAULT_PARAMS_PATH = (
    Path(__file__).resolve().parent.parent / "config" / "devnet-protocol-params.json"
)

# Language ids of the ledger (Alonzo CDDL `language`).
LANGUAGE_IDS: dict[str, int] = {"PlutusV1": 0, "PlutusV2": 1, "PlutusV3": 2}


@dataclass(frozen=True)
class ProtocolParams:
    min_fee_a: int
    min_fee_b: int
    max_tx_size: int
    max_block_size: int
    max_block_header_size: int
    key_deposit: int
    pool_deposit: int
    min_pool_cost: int
    a0: Fraction
    rho: Fraction
    tau: Fraction
    protocol_major: int
    protocol_minor: int
    price_mem: Fraction
    price_step: Fraction
    max_tx_ex_mem: int
    max_tx_ex_steps: int
    max_block_ex_mem: int
    max_block_ex_steps: int
    max_val_size: int
    collateral_percent: int
    max_collateral_inputs: int
    coins_per_utxo_size: int
    min_fee_ref_script_cost_per_byte: Fraction
    # Ledger-order parameter arrays, keyed "PlutusV1"/"PlutusV2"/"PlutusV3".
    cost_models_raw: dict[str, tuple[int, ...]]
    # The JSON text the parameters came from (kept for persistence and the HTTP API).
    source_json: str

    @classmethod
    def from_json_text(cls, text: str) -> ProtocolParams:
        # parse_float=Fraction keeps "0.0577" exact; ints may come as JSON strings.
        raw: dict[str, Any] = json.loads(text, parse_float=Fraction)

        def whole(key: str) -> int:
            return int(raw[key])

        def exact(key: str) -> Fraction:
            return Fraction(raw[key])

        return cls(
            min_fee_a=whole("min_fee_a"),
            min_fee_b=whole("min_fee_b"),
            max_tx_size=whole("max_tx_size"),
            max_block_size=whole("max_block_size"),
            max_block_header_size=whole("max_block_header_size"),
            key_deposit=whole("key_deposit"),
            pool_deposit=whole("pool_deposit"),
            min_pool_cost=whole("min_pool_cost"),
            a0=exact("a0"),
            rho=exact("rho"),
            tau=exact("tau"),
            protocol_major=whole("protocol_major_ver"),
            protocol_minor=whole("protocol_minor_ver"),
            price_mem=exact("price_mem"),
            price_step=exact("price_step"),
            max_tx_ex_mem=whole("max_tx_ex_mem"),
            max_tx_ex_steps=whole("max_tx_ex_steps"),
            max_block_ex_mem=whole("max_block_ex_mem"),
            max_block_ex_steps=whole("max_block_ex_steps"),
            max_val_size=whole("max_val_size"),
            collateral_percent=whole("collateral_percent"),
            max_collateral_inputs=whole("max_collateral_inputs"),
            coins_per_utxo_size=whole("coins_per_utxo_size"),
            min_fee_ref_script_cost_per_byte=exact("min_fee_ref_script_cost_per_byte"),
            cost_models_raw={
                lang: tuple(int(v) for v in values)
                for lang, values in raw["cost_models_raw"].items()
            },
            source_json=text,
        )

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PARAMS_PATH) -> ProtocolParams:
        return cls.from_json_text(Path(path).read_text(encoding="utf-8"))

    def cost_model(self, language_id: int) -> tuple[int, ...] | None:
        """The ledger-order cost model of a Plutus language id (0 = V1), if the params have one."""
        for name, lang in LANGUAGE_IDS.items():
            if lang == language_id:
                return self.cost_models_raw.get(name)
        return None
