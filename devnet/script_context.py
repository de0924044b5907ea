"""Translation of a pycardano transaction into the Plutus V2/V3 `ScriptContext` (as uplc Data).

Follows the ledger's Conway translation (`transTxInfo` of the Babbage and Conway eras):

- inputs and reference inputs sorted by (tx id, index), the order of the ledger's `Set TxIn`;
- signatories sorted (a `Set KeyHash`), mint policies and withdrawals in the ledger's `Map` order;
- `Value` with the ADA entry first; V3 mint without an ADA entry (`{}` if none), V2 mint with a
  zero-ADA entry and V2 fee as a `Value`;
- validity interval per `transValidityInterval`: lower bound closed (or NegInf, closure True),
  upper bound strict from protocol version 9 on (closed before), PosInf closure True;
- only witness-set datums in `txInfoData`; inline datums stay in their outputs;
- V3 tx id is plain bytes, V2 wraps it in `TxId` (`Constr 0 [bytes]`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pycardano.address import Address, PointerAddress
from pycardano.certificate import (
    PoolRetirement,
    StakeCredential,
    StakeDelegation,
    StakeDeregistration,
    StakeDeregistrationConway,
    StakeRegistration,
    StakeRegistrationConway,
)
from pycardano.hash import ScriptHash, VerificationKeyHash
from pycardano.plutus import script_hash
from pycardano.transaction import (
    Asset,
    MultiAsset,
    Transaction,
    TransactionInput,
    TransactionOutput,
    Value,
)

from devnet.plutus_data import (
    NOTHING,
    PlutusData,
    boolean,
    bytestring,
    constr,
    data_from_pycardano,
    data_list,
    data_map,
    integer,
    just,
    maybe,
)

__all__ = [
    "REDEEMER_TAGS",
    "Phase2Error",
    "RedeemerTarget",
    "SlotConfig",
    "TxContextBuilder",
    "sorted_inputs",
    "sorted_policies",
    "sorted_withdrawals",
]

# redeemer tag number -> name used in RedeemerEval.tag (ledger order of PlutusPurpose)
REDEEMER_TAGS: tuple[str, ...] = ("spend", "mint", "cert", "reward", "vote", "propose")


class Phase2Error(Exception):
    """A structural problem that prevents building or running a script: missing script for a
    purpose, missing datum, unsupported language or transaction feature."""


@dataclass(frozen=True)
class SlotConfig:
    zero_time_ms: int
    zero_slot: int
    slot_length_ms: int

    def slot_to_posix_ms(self, slot: int) -> int:
        return self.zero_time_ms + (slot - self.zero_slot) * self.slot_length_ms

    def posix_ms_to_slot(self, ms: int) -> int:
        return self.zero_slot + (ms - self.zero_time_ms) // self.slot_length_ms


# ---------------------------------------------------------------------------------------------
# ledger orders


def sorted_inputs(inputs: Iterable[TransactionInput] | None) -> list[TransactionInput]:
    return sorted(inputs or (), key=lambda i: (bytes(i.transaction_id), i.index))


def sorted_policies(mint: MultiAsset | None) -> list[ScriptHash]:
    return sorted((mint or {}).keys(), key=bytes)


def _asset_name_order(name: Any) -> bytes:
    # plain byte order (not canonical CBOR's length-first order): Aiken's evaluator shows
    # b"AAA" before b"ZZ" (test_phase2_oracle.py::test_v3_context_equals_aikens)
    return bytes(name.payload)


def _credential_order(part: VerificationKeyHash | ScriptHash) -> tuple[int, bytes]:
    # ledger `Credential = ScriptHashObj | KeyHashObj`: script credentials sort first
    return (0 if isinstance(part, ScriptHash) else 1, bytes(part))


def sorted_withdrawals(tx: Transaction) -> list[tuple[VerificationKeyHash | ScriptHash, int]]:
    """Withdrawals as (staking credential, amount) in the ledger's `Map RewardAccount` order."""
    pairs = []
    for raw_account, amount in (tx.transaction_body.withdraws or {}).items():
        staking_part = Address.from_primitive(bytes(raw_account)).staking_part
        if not isinstance(staking_part, (VerificationKeyHash, ScriptHash)):
            raise Phase2Error(f"malformed reward account {bytes(raw_account).hex()}")
        pairs.append((staking_part, int(amount)))
    return sorted(pairs, key=lambda p: _credential_order(p[0]))


# ---------------------------------------------------------------------------------------------
# shared pieces (same encoding in V2 and V3)


def credential(part: VerificationKeyHash | ScriptHash) -> PlutusData:
    if isinstance(part, ScriptHash):
        return constr(1, bytestring(bytes(part)))
    return constr(0, bytestring(bytes(part)))


def staking_credential(part: Any) -> PlutusData:
    """V2 `StakingCredential` (and V2/V3 address staking part): hash or pointer."""
    if isinstance(part, PointerAddress):
        return constr(1, integer(part.slot), integer(part.tx_index), integer(part.cert_index))
    return constr(0, credential(part))


def address(addr: Address) -> PlutusData:
    payment = addr.payment_part
    if not isinstance(payment, (VerificationKeyHash, ScriptHash)):
        raise Phase2Error(f"address {addr} cannot appear in a Plutus context")
    staking = None if addr.staking_part is None else staking_credential(addr.staking_part)
    return constr(0, credential(payment), maybe(staking))


def _asset_map(assets: Asset) -> PlutusData:
    names = sorted(assets.keys(), key=_asset_name_order)
    return data_map((bytestring(bytes(n.payload)), integer(int(assets[n]))) for n in names)


def multi_asset_pairs(multi: MultiAsset | None) -> list[tuple[PlutusData, PlutusData]]:
    policies = sorted_policies(multi)
    return [(bytestring(bytes(p)), _asset_map(multi[p])) for p in policies] if multi else []


def ada_entry(coin: int) -> tuple[PlutusData, PlutusData]:
    return (bytestring(b""), data_map([(bytestring(b""), integer(coin))]))


def value(amount: int | Value) -> PlutusData:
    if isinstance(amount, Value):
        return data_map([ada_entry(amount.coin), *multi_asset_pairs(amount.multi_asset)])
    return data_map([ada_entry(int(amount))])


def output_datum(out: TransactionOutput) -> PlutusData:
    if out.datum is not None:
        return constr(2, data_from_pycardano(out.datum))
    if out.datum_hash is not None:
        return constr(1, bytestring(bytes(out.datum_hash)))
    return constr(0)


def tx_out(out: TransactionOutput) -> PlutusData:
    ref_script = None if out.script is None else bytestring(bytes(script_hash(out.script)))
    return constr(0, address(out.address), value(out.amount), output_datum(out), maybe(ref_script))


def bound(kind: int, time_ms: int | None, closed: bool) -> PlutusData:
    # Extended: NegInf = 0, Finite t = 1, PosInf = 2
    extended = constr(1, integer(time_ms)) if time_ms is not None else constr(kind)
    return constr(0, extended, boolean(closed))


def validity_interval(tx: Transaction, slot_config: SlotConfig, protocol_major: int) -> PlutusData:
    body = tx.transaction_body
    if body.validity_start is None:
        lower = bound(0, None, True)
    else:
        lower = bound(1, slot_config.slot_to_posix_ms(body.validity_start), True)
    if body.ttl is None:
        upper = bound(2, None, True)
    else:
        # ledger HardForks.translateUpperBoundForPlutusScripts: strict from protocol version 9
        upper = bound(1, slot_config.slot_to_posix_ms(body.ttl), protocol_major < 9)
    return constr(0, lower, upper)


# ---------------------------------------------------------------------------------------------
# redeemer targets


@dataclass(frozen=True)
class RedeemerTarget:
    """What a redeemer points at, resolved against the transaction."""

    tag: str
    index: int
    script_hash: bytes
    redeemer: PlutusData
    declared_mem: int
    declared_steps: int
    spent_input: TransactionInput | None = None
    spent_output: TransactionOutput | None = None
    policy: bytes | None = None
    stake_credential: VerificationKeyHash | ScriptHash | None = None
    certificate: Any = None


# ---------------------------------------------------------------------------------------------
# certificates


def _credential_of(stake: StakeCredential) -> PlutusData:
    return credential(stake.credential)


def tx_cert_v3(cert: Any) -> PlutusData:
    """V3 `TxCert` for the certificates a payment node meets; others are refused."""
    if isinstance(cert, StakeRegistration):
        return constr(0, _credential_of(cert.stake_credential), NOTHING)
    if isinstance(cert, StakeRegistrationConway):
        return constr(0, _credential_of(cert.stake_credential), just(integer(cert.coin)))
    if isinstance(cert, StakeDeregistration):
        return constr(1, _credential_of(cert.stake_credential), NOTHING)
    if isinstance(cert, StakeDeregistrationConway):
        return constr(1, _credential_of(cert.stake_credential), just(integer(cert.coin)))
    if isinstance(cert, StakeDelegation):
        delegatee = constr(0, bytestring(bytes(cert.pool_keyhash)))
        return constr(2, _credential_of(cert.stake_credential), delegatee)
    if isinstance(cert, PoolRetirement):
        return constr(8, bytestring(bytes(cert.pool_keyhash)), integer(cert.epoch))
    raise Phase2Error(f"certificate {type(cert).__name__} is not supported in a V3 context")


def tx_cert_v2(cert: Any) -> PlutusData:
    """V2 `DCert`; the ledger cannot show Conway-only certificates to V1/V2 scripts."""
    if isinstance(cert, StakeRegistration):
        return constr(0, staking_credential(cert.stake_credential.credential))
    if isinstance(cert, StakeDeregistration):
        return constr(1, staking_credential(cert.stake_credential.credential))
    if isinstance(cert, StakeDelegation):
        cred = staking_credential(cert.stake_credential.credential)
        return constr(2, cred, bytestring(bytes(cert.pool_keyhash)))
    if isinstance(cert, PoolRetirement):
        return constr(4, bytestring(bytes(cert.pool_keyhash)), integer(cert.epoch))
    raise Phase2Error(f"certificate {type(cert).__name__} is not supported in a V2 context")


# ---------------------------------------------------------------------------------------------
# the builder


@dataclass
class TxContextBuilder:
    """Builds the parts of the script context once per transaction and language."""

    tx: Transaction
    tx_id: bytes
    resolved: Mapping[TransactionInput, TransactionOutput]
    slot_config: SlotConfig
    protocol_major: int
    witness_datums: Mapping[bytes, PlutusData]
    targets: Sequence[RedeemerTarget]
    _tx_infos: dict[str, PlutusData] = field(default_factory=dict)

    # -- common ------------------------------------------------------------------------------

    def _resolve(self, inp: TransactionInput) -> TransactionOutput:
        try:
            return self.resolved[inp]
        except KeyError:
            raise Phase2Error(
                f"input {bytes(inp.transaction_id).hex()}#{inp.index} is not resolved"
            ) from None

    def _tx_in_infos(
        self,
        inputs: Iterable[TransactionInput] | None,
        out_ref: Callable[[TransactionInput], PlutusData],
    ) -> PlutusData:
        return data_list(
            constr(0, out_ref(i), tx_out(self._resolve(i))) for i in sorted_inputs(inputs)
        )

    def _outputs(self) -> PlutusData:
        return data_list(tx_out(o) for o in self.tx.transaction_body.outputs)

    def _signatories(self) -> PlutusData:
        signers = sorted(bytes(s) for s in self.tx.transaction_body.required_signers or ())
        return data_list(bytestring(s) for s in signers)

    def _data(self) -> PlutusData:
        hashes = sorted(self.witness_datums)
        return data_map((bytestring(h), self.witness_datums[h]) for h in hashes)

    def _redeemers(self, purpose: Callable[[RedeemerTarget], PlutusData]) -> PlutusData:
        ordered = sorted(self.targets, key=lambda t: (REDEEMER_TAGS.index(t.tag), t.index))
        return data_map((purpose(t), t.redeemer) for t in ordered)

    def _interval(self) -> PlutusData:
        return validity_interval(self.tx, self.slot_config, self.protocol_major)

    # -- V3 ----------------------------------------------------------------------------------

    @staticmethod
    def out_ref_v3(inp: TransactionInput) -> PlutusData:
        return constr(0, bytestring(bytes(inp.transaction_id)), integer(inp.index))

    def _mint_v3(self) -> PlutusData:
        return data_map(multi_asset_pairs(self.tx.transaction_body.mint))

    def _withdrawals_v3(self) -> PlutusData:
        pairs = sorted_withdrawals(self.tx)
        return data_map((credential(c), integer(amount)) for c, amount in pairs)

    def _optional_coin(self, amount: int | None) -> PlutusData:
        return maybe(None if amount is None else integer(amount))

    def purpose_v3(self, target: RedeemerTarget) -> PlutusData:
        """V3 `ScriptPurpose` (the key of txInfoRedeemers)."""
        if target.tag == "spend" and target.spent_input is not None:
            return constr(1, self.out_ref_v3(target.spent_input))
        if target.tag == "mint" and target.policy is not None:
            return constr(0, bytestring(target.policy))
        if target.tag == "reward" and target.stake_credential is not None:
            return constr(2, credential(target.stake_credential))
        if target.tag == "cert":
            return constr(3, integer(target.index), tx_cert_v3(target.certificate))
        raise Phase2Error(f"{target.tag} redeemers are not supported")

    def script_info_v3(self, target: RedeemerTarget, datum: PlutusData | None) -> PlutusData:
        """V3 `ScriptInfo`: the purpose, with the optional datum for spending."""
        if target.tag == "spend" and target.spent_input is not None:
            return constr(1, self.out_ref_v3(target.spent_input), maybe(datum))
        return self.purpose_v3(target)

    def tx_info_v3(self) -> PlutusData:
        if "v3" not in self._tx_infos:
            self._tx_infos["v3"] = self._build_tx_info_v3()
        return self._tx_infos["v3"]

    def _build_tx_info_v3(self) -> PlutusData:
        body = self.tx.transaction_body
        if body.voting_procedures or body.proposal_procedures:
            raise Phase2Error("votes and proposals are not supported in the devnet context")
        return constr(
            0,
            self._tx_in_infos(body.inputs, self.out_ref_v3),
            self._tx_in_infos(body.reference_inputs, self.out_ref_v3),
            self._outputs(),
            integer(body.fee),
            self._mint_v3(),
            data_list(tx_cert_v3(c) for c in body.certificates or ()),
            self._withdrawals_v3(),
            self._interval(),
            self._signatories(),
            self._redeemers(self.purpose_v3),
            self._data(),
            bytestring(self.tx_id),
            data_map([]),  # votes
            data_list([]),  # proposal procedures
            self._optional_coin(body.current_treasury_value),
            self._optional_coin(body.donation),
        )

    def context_v3(self, target: RedeemerTarget, datum: PlutusData | None) -> PlutusData:
        return constr(0, self.tx_info_v3(), target.redeemer, self.script_info_v3(target, datum))

    # -- V2 ----------------------------------------------------------------------------------

    def out_ref_v2(self, inp: TransactionInput) -> PlutusData:
        return constr(0, self._tx_id_v2(bytes(inp.transaction_id)), integer(inp.index))

    @staticmethod
    def _tx_id_v2(raw: bytes) -> PlutusData:
        return constr(0, bytestring(raw))

    def _mint_v2(self) -> PlutusData:
        # the ledger shows V1/V2 scripts the mint as a full Value, so with a zero-ADA entry
        return data_map([ada_entry(0), *multi_asset_pairs(self.tx.transaction_body.mint)])

    def _withdrawals_v2(self) -> PlutusData:
        pairs = sorted_withdrawals(self.tx)
        return data_map((staking_credential(c), integer(amount)) for c, amount in pairs)

    def purpose_v2(self, target: RedeemerTarget) -> PlutusData:
        """V1/V2 `ScriptPurpose`."""
        if target.tag == "spend" and target.spent_input is not None:
            return constr(1, self.out_ref_v2(target.spent_input))
        if target.tag == "mint" and target.policy is not None:
            return constr(0, bytestring(target.policy))
        if target.tag == "reward" and target.stake_credential is not None:
            return constr(2, staking_credential(target.stake_credential))
        if target.tag == "cert":
            return constr(3, tx_cert_v2(target.certificate))
        raise Phase2Error(f"{target.tag} redeemers cannot run a Plutus V1/V2 script")

    def tx_info_v2(self) -> PlutusData:
        if "v2" not in self._tx_infos:
            self._tx_infos["v2"] = self._build_tx_info_v2()
        return self._tx_infos["v2"]

    def _build_tx_info_v2(self) -> PlutusData:
        body = self.tx.transaction_body
        if body.voting_procedures or body.proposal_procedures:
            raise Phase2Error("a Plutus V2 script cannot see votes or proposals")
        return constr(
            0,
            self._tx_in_infos(body.inputs, self.out_ref_v2),
            self._tx_in_infos(body.reference_inputs, self.out_ref_v2),
            self._outputs(),
            value(body.fee),
            self._mint_v2(),
            data_list(tx_cert_v2(c) for c in body.certificates or ()),
            self._withdrawals_v2(),
            self._interval(),
            self._signatories(),
            self._redeemers(self.purpose_v2),
            self._data(),
            self._tx_id_v2(self.tx_id),
        )

    def context_v2(self, target: RedeemerTarget) -> PlutusData:
        return constr(0, self.tx_info_v2(), self.purpose_v2(target))
