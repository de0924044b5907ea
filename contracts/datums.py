# mypy: disable-error-code="misc"
"""Off-chain Plutus data of the escrow and registry contracts (masumi-protocol.md §3.2, §3.3, §5.1).

Plain pycardano `PlutusData` classes: importing them needs neither OpShin nor the compiled
scripts. They encode like Aiken/Haskell: constructor `n` as tag 121+n, fields as an
indefinite-length array (an empty one as `80`), byte strings over 64 bytes in 64-byte chunks, so a
datum hash computed here equals the ledger's. `tests/contracts` checks that the on-chain
validator accepts exactly these encodings.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Union

from pycardano import Address as PycardanoAddress
from pycardano import (
    Network,
    PlutusData,
    ScriptHash,
    TransactionInput,
    VerificationKeyHash,
)
from pycardano.serialization import ByteString

# pycardano restores fields from their runtime annotations: `Union[...]`, not `X | Y` strings.


def _bytes(value: bytes) -> bytes | ByteString:
    """pycardano refuses plain bytes over 64 (it chunks ByteString values)."""
    return ByteString(value) if len(value) > 64 else value


# Address (Aiken stdlib / Plutus ledger API) ---------------------------------------------------


@dataclass
class PubKeyCredential(PlutusData):
    CONSTR_ID = 0
    key_hash: bytes


@dataclass
class ScriptCredential(PlutusData):
    CONSTR_ID = 1
    script_hash: bytes


@dataclass
class StakeInline(PlutusData):
    """StakeCredential.Inline(credential)."""

    CONSTR_ID = 0
    credential: Union[PubKeyCredential, ScriptCredential]  # noqa: UP007


@dataclass
class SomeStake(PlutusData):
    CONSTR_ID = 0
    stake: StakeInline


@dataclass
class NoStake(PlutusData):
    CONSTR_ID = 1


@dataclass
class PlutusAddress(PlutusData):
    CONSTR_ID = 0
    payment: Union[PubKeyCredential, ScriptCredential]  # noqa: UP007
    stake: Union[SomeStake, NoStake]  # noqa: UP007

    @classmethod
    def from_address(cls, address: PycardanoAddress | str) -> "PlutusAddress":
        """A Shelley base or enterprise address (pointer addresses are not supported)."""
        addr = PycardanoAddress.from_primitive(address) if isinstance(address, str) else address
        payment: Union[PubKeyCredential, ScriptCredential]  # noqa: UP007
        if isinstance(addr.payment_part, VerificationKeyHash):
            payment = PubKeyCredential(bytes(addr.payment_part.payload))
        else:
            payment = ScriptCredential(bytes(addr.payment_part.payload))
        stake: SomeStake | NoStake = NoStake()
        if addr.staking_part is not None:
            part = addr.staking_part
            if not hasattr(part, "payload"):
                raise ValueError("pointer addresses are not supported")
            credential: PubKeyCredential | ScriptCredential = (
                PubKeyCredential(bytes(part.payload))
                if isinstance(part, VerificationKeyHash)
                else ScriptCredential(bytes(part.payload))
            )
            stake = SomeStake(StakeInline(credential))
        return cls(payment, stake)

    def to_address(self, network: Network) -> PycardanoAddress:
        """The Shelley address again (the inverse of `from_address`)."""
        payment = (
            VerificationKeyHash(self.payment.key_hash)
            if isinstance(self.payment, PubKeyCredential)
            else ScriptHash(self.payment.script_hash)
        )
        if not isinstance(self.stake, SomeStake):
            return PycardanoAddress(payment, network=network)
        credential = self.stake.stake.credential
        stake = (
            VerificationKeyHash(credential.key_hash)
            if isinstance(credential, PubKeyCredential)
            else ScriptHash(credential.script_hash)
        )
        return PycardanoAddress(payment, stake, network=network)


# Escrow -------------------------------------------------------------------------------------


class State(IntEnum):
    FUNDS_LOCKED = 0
    RESULT_SUBMITTED = 1
    REFUND_REQUESTED = 2
    DISPUTED = 3


@dataclass
class FundsLocked(PlutusData):
    CONSTR_ID = 0


@dataclass
class ResultSubmitted(PlutusData):
    CONSTR_ID = 1


@dataclass
class RefundRequested(PlutusData):
    CONSTR_ID = 2


@dataclass
class Disputed(PlutusData):
    CONSTR_ID = 3


StateData = FundsLocked | ResultSubmitted | RefundRequested | Disputed
_STATES: dict[State, type[PlutusData]] = {
    State.FUNDS_LOCKED: FundsLocked,
    State.RESULT_SUBMITTED: ResultSubmitted,
    State.REFUND_REQUESTED: RefundRequested,
    State.DISPUTED: Disputed,
}


def state_data(state: State) -> StateData:
    made: StateData = _STATES[state]()
    return made


def state_of(data: PlutusData) -> State:
    return State(int(data.CONSTR_ID))


@dataclass
class EscrowDatum(PlutusData):
    """The V1 escrow datum: `Constr 0` with 16 fields in this order."""

    CONSTR_ID = 0
    buyer: PlutusAddress
    seller: PlutusAddress
    reference_key: Union[ByteString, bytes]  # noqa: UP007
    reference_signature: Union[ByteString, bytes]  # noqa: UP007
    seller_nonce: Union[ByteString, bytes]  # noqa: UP007
    buyer_nonce: Union[ByteString, bytes]  # noqa: UP007
    collateral_return_lovelace: int
    input_hash: Union[ByteString, bytes]  # noqa: UP007
    result_hash: Union[ByteString, bytes]  # noqa: UP007
    pay_by_time: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int
    seller_cooldown_time: int
    buyer_cooldown_time: int
    state: Union[FundsLocked, ResultSubmitted, RefundRequested, Disputed]  # noqa: UP007

    @classmethod
    def make(
        cls,
        *,
        buyer: PlutusAddress,
        seller: PlutusAddress,
        reference_key: bytes,
        reference_signature: bytes,
        seller_nonce: bytes,
        buyer_nonce: bytes,
        collateral_return_lovelace: int,
        input_hash: bytes,
        pay_by_time: int,
        submit_result_time: int,
        unlock_time: int,
        external_dispute_unlock_time: int,
        result_hash: bytes = b"",
        seller_cooldown_time: int = 0,
        buyer_cooldown_time: int = 0,
        state: State = State.FUNDS_LOCKED,
    ) -> "EscrowDatum":
        return cls(
            buyer,
            seller,
            _bytes(reference_key),
            _bytes(reference_signature),
            _bytes(seller_nonce),
            _bytes(buyer_nonce),
            collateral_return_lovelace,
            _bytes(input_hash),
            _bytes(result_hash),
            pay_by_time,
            submit_result_time,
            unlock_time,
            external_dispute_unlock_time,
            seller_cooldown_time,
            buyer_cooldown_time,
            state_data(state),
        )

    def replace(self, **changes: Any) -> "EscrowDatum":
        """A copy with some fields changed (`state` as a `State`, byte fields as bytes)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name, value in changes.items():
            if name not in values:
                raise TypeError(f"EscrowDatum has no field {name}")
            if name == "state":
                value = state_data(State(value))
            elif isinstance(value, bytes):
                value = _bytes(value)
            values[name] = value
        return EscrowDatum(**values)

    @property
    def current_state(self) -> State:
        return state_of(self.state)

    @property
    def result(self) -> bytes:
        value = self.result_hash
        return bytes(value.value) if isinstance(value, ByteString) else bytes(value)


class Action(IntEnum):
    """Escrow redeemers (constructor index, no fields)."""

    WITHDRAW = 0
    SET_REFUND_REQUESTED = 1
    UNSET_REFUND_REQUESTED = 2
    WITHDRAW_REFUND = 3
    WITHDRAW_DISPUTED = 4
    SUBMIT_RESULT = 5
    AUTHORIZE_REFUND = 6


@dataclass
class Withdraw(PlutusData):
    CONSTR_ID = 0


@dataclass
class SetRefundRequested(PlutusData):
    CONSTR_ID = 1


@dataclass
class UnSetRefundRequested(PlutusData):
    CONSTR_ID = 2


@dataclass
class WithdrawRefund(PlutusData):
    CONSTR_ID = 3


@dataclass
class WithdrawDisputed(PlutusData):
    CONSTR_ID = 4


@dataclass
class SubmitResult(PlutusData):
    CONSTR_ID = 5


@dataclass
class AuthorizeRefund(PlutusData):
    CONSTR_ID = 6


_ACTIONS: dict[Action, type[PlutusData]] = {
    Action.WITHDRAW: Withdraw,
    Action.SET_REFUND_REQUESTED: SetRefundRequested,
    Action.UNSET_REFUND_REQUESTED: UnSetRefundRequested,
    Action.WITHDRAW_REFUND: WithdrawRefund,
    Action.WITHDRAW_DISPUTED: WithdrawDisputed,
    Action.SUBMIT_RESULT: SubmitResult,
    Action.AUTHORIZE_REFUND: AuthorizeRefund,
}


def redeemer_data(action: Action) -> PlutusData:
    made: PlutusData = _ACTIONS[action]()
    return made


@dataclass
class OutputReference(PlutusData):
    """The datum of a "tagged" output: the spent escrow UTxO's reference (V3: plain tx id)."""

    CONSTR_ID = 0
    transaction_id: bytes
    output_index: int

    @classmethod
    def of(cls, txin: TransactionInput) -> "OutputReference":
        return cls(bytes(txin.transaction_id.payload), int(txin.index))


# Registry -----------------------------------------------------------------------------------


@dataclass
class MintAction(PlutusData):
    CONSTR_ID = 0


@dataclass
class BurnAction(PlutusData):
    CONSTR_ID = 1
