"""Escrow and registry transactions on an in-process devnet ledger.

`EscrowWorld` holds a ledger, the parties' wallets and the applied escrow script. `lock()` pays
an escrow UTxO (10 USDM plus lovelace, inline datum); `spend()` builds, signs and submits one
escrow spend with pycardano's TransactionBuilder through `LedgerChainContext`. Every aspect a
negative test changes (signer, validity window, continuing output, tagged outputs, extra
inputs) is a keyword of `spend()`, so each negative test differs from an accepted transaction in
exactly one respect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pycardano import (
    Address,
    Asset,
    AssetName,
    ExecutionUnits,
    MultiAsset,
    Network,
    PaymentSigningKey,
    PlutusData,
    Redeemer,
    ScriptHash,
    Transaction,
    TransactionBuilder,
    TransactionInput,
    TransactionOutput,
    UTxO,
    Value,
    VerificationKeyHash,
)

from contracts.datums import (
    Action,
    EscrowDatum,
    OutputReference,
    PlutusAddress,
    State,
    redeemer_data,
)
from contracts.params import AppliedScript, EscrowParams, escrow_script
from devnet import Genesis, Ledger, ProtocolParams
from devnet.context import LedgerChainContext

ADA = 1_000_000
USDM_LOCKED = 10_000_000  # 10 USDM
LOCK_LOVELACE = 4_000_000
COLLATERAL_RETURN = 1_500_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
COOLDOWN_MS = 7 * MINUTE_MS
PLENTY = ExecutionUnits(4_000_000, 2_000_000_000)
# A real CIP-8 signature and key as the Masumi node writes them (COSE_Sign1 / COSE_Key bytes)
REFERENCE_KEY = bytes.fromhex(
    "a4010103272006215820" + "5a" * 32
)  # {1: 1, 3: -8, -1: 6, -2: <32-byte key>}
REFERENCE_SIGNATURE = bytes.fromhex(
    "845882a30127045820"
    + "5a" * 32
    + "6761646472657373"
    + "5839"
    + "01"
    + "ab" * 56
    + "a166686173686564f45820"
    + "cd" * 32
    + "5840"
    + "ef" * 64
)


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


@dataclass(frozen=True)
class Wallet:
    name: str
    signing_key: PaymentSigningKey
    stake: VerificationKeyHash | None = None

    @classmethod
    def make(cls, name: str, with_stake: bool = False) -> Wallet:
        key = PaymentSigningKey(blake2b_256(f"contracts-test/{name}".encode()))
        stake = None
        if with_stake:
            stake_key = PaymentSigningKey(blake2b_256(f"contracts-test/{name}/stake".encode()))
            stake = stake_key.to_verification_key().hash()
        return cls(name, key, stake)

    @property
    def key_hash(self) -> VerificationKeyHash:
        return self.signing_key.to_verification_key().hash()

    @property
    def address(self) -> Address:
        return Address(self.key_hash, self.stake, network=Network.TESTNET)

    @property
    def plutus_address(self) -> PlutusAddress:
        return PlutusAddress.from_address(self.address)


BUYER = Wallet.make("buyer", with_stake=True)
SELLER = Wallet.make("seller")
ADMINS = tuple(Wallet.make(f"admin-{i}") for i in (1, 2, 3))
FEE_WALLET = Wallet.make("fee", with_stake=True)
STRANGER = Wallet.make("stranger")
PARTIES = (BUYER, SELLER, *ADMINS, FEE_WALLET, STRANGER)

ESCROW_PARAMS = EscrowParams(
    required_admins_multi_sig=2,
    admin_vks=tuple(bytes(a.key_hash.payload) for a in ADMINS),
    fee_address=str(FEE_WALLET.address),
    fee_permille=50,
    cooldown_period_ms=COOLDOWN_MS,
)


def new_ledger() -> Ledger:
    genesis = Genesis(
        seed="contracts-tests", funded={str(w.address): 10_000 * ADA for w in PARTIES}
    )
    return Ledger(ProtocolParams.load(), genesis)


def fee_due(quantity: int, permille: int = ESCROW_PARAMS.fee_permille) -> int:
    return quantity * permille // 1000


@dataclass
class Spend:
    """What `spend()` submitted (or tried to)."""

    tx: Transaction
    escrow_in: TransactionInput


@dataclass
class EscrowWorld:
    ledger: Ledger = field(default_factory=new_ledger)
    params: EscrowParams = ESCROW_PARAMS
    script: AppliedScript = field(default_factory=lambda: escrow_script(ESCROW_PARAMS))

    def __post_init__(self) -> None:
        self.ledger.advance_time(86_400)
        self.context = LedgerChainContext(self.ledger)
        self.address = self.script.address(Network.TESTNET)
        self.usdm_policy = bytes.fromhex(self.ledger.usdm_unit[:56])
        self.usdm_name = bytes.fromhex(self.ledger.usdm_unit[56:])
        self.ledger.faucet(str(BUYER.address), 100 * ADA, {self.ledger.usdm_unit: 1_000 * ADA})

    # time -------------------------------------------------------------------------------------

    @property
    def slot(self) -> int:
        return self.ledger.current_slot

    def ms(self, slot: int) -> int:
        return self.ledger.slot_to_ms(slot)

    def advance_ms(self, ms: int) -> None:
        self.ledger.advance_time(-(-ms // 1000))

    def advance_to(self, posix_ms: int) -> None:
        if self.ledger.now_ms < posix_ms:
            self.advance_ms(posix_ms - self.ledger.now_ms)

    # values -----------------------------------------------------------------------------------

    def usdm(self, quantity: int) -> MultiAsset:
        return MultiAsset(
            {ScriptHash(self.usdm_policy): Asset({AssetName(self.usdm_name): quantity})}
        )

    def value(self, lovelace: int, usdm: int = 0) -> Value:
        return Value(lovelace, self.usdm(usdm)) if usdm else Value(lovelace)

    # datums -----------------------------------------------------------------------------------

    def datum(self, **overrides: Any) -> EscrowDatum:
        now = self.ledger.now_ms
        fields: dict[str, Any] = {
            "buyer": BUYER.plutus_address,
            "seller": SELLER.plutus_address,
            "reference_key": REFERENCE_KEY,
            "reference_signature": REFERENCE_SIGNATURE,
            "seller_nonce": blake2b_256(b"seller-id") + bytes(60),
            "buyer_nonce": bytes.fromhex("0123456789abcdef0123"),
            "collateral_return_lovelace": COLLATERAL_RETURN,
            "input_hash": blake2b_256(b"input"),
            "pay_by_time": now + HOUR_MS,
            "submit_result_time": now + 2 * HOUR_MS,
            "unlock_time": now + 3 * HOUR_MS,
            "external_dispute_unlock_time": now + 4 * HOUR_MS,
        }
        fields.update(overrides)
        return EscrowDatum.make(**fields)

    # transactions -----------------------------------------------------------------------------

    def lock(
        self,
        datum: EscrowDatum | None = None,
        value: Value | None = None,
        *,
        address: Address | None = None,
        script_ref: bool = False,
    ) -> TransactionInput:
        """Pay an escrow UTxO from the buyer; returns its reference."""
        builder = TransactionBuilder(self.context)
        builder.add_input_address(BUYER.address)
        out = TransactionOutput(
            address or self.address,
            value or self.value(LOCK_LOVELACE, USDM_LOCKED),
            datum=datum or self.datum(),
        )
        builder.add_output(out)
        tx = builder.build_and_sign([BUYER.signing_key], change_address=BUYER.address)
        self.ledger.submit(tx.to_cbor())
        return TransactionInput(tx.id, 0)

    def deploy_reference_script(self) -> UTxO:
        """An output holding the escrow script as a reference script (at a stranger's key)."""
        builder = TransactionBuilder(self.context)
        builder.add_input_address(STRANGER.address)
        out = TransactionOutput(STRANGER.address, 40 * ADA, script=self.script.plutus_script)
        builder.add_output(out)
        tx = builder.build_and_sign([STRANGER.signing_key], change_address=STRANGER.address)
        self.ledger.submit(tx.to_cbor())
        return UTxO(TransactionInput(tx.id, 0), tx.transaction_body.outputs[0])

    def utxo(self, txin: TransactionInput) -> UTxO:
        found = self.ledger.utxo(_txin(txin))
        assert found is not None, "escrow UTxO is gone"
        return UTxO(txin, TransactionOutput.from_cbor(found.cbor))

    def datum_at(self, txin: TransactionInput) -> EscrowDatum:
        raw = self.utxo(txin).output.datum
        datum = raw if isinstance(raw, EscrowDatum) else EscrowDatum.from_cbor(raw.to_cbor())
        return datum

    def window(
        self, *, lower_ms: int | None = None, upper_ms: int | None = None
    ) -> tuple[int, int]:
        """Slots (validity_start, ttl) around now, as the node picks them."""
        start = self.slot if lower_ms is None else _slot_at_or_after(self, lower_ms)
        ttl = self.slot + 300 if upper_ms is None else _slot_at_or_after(self, upper_ms)
        return start, ttl

    def spend(
        self,
        txin: TransactionInput,
        action: Action,
        actor: Wallet,
        *,
        new_datum: EscrowDatum | None = None,
        continuing_value: Value | None = None,
        continuing: bool | None = None,
        continuing_address: Address | None = None,
        continuing_script: bool = False,
        validity: tuple[int | None, int | None] | None = None,
        signers: Sequence[Wallet] | None = None,
        required_signers: Sequence[Wallet] | None = None,
        outputs: Sequence[TransactionOutput] = (),
        extra_script_inputs: Sequence[TransactionInput] = (),
        reference_script: UTxO | None = None,
        ex_units: ExecutionUnits | None = PLENTY,
        edit: Callable[[TransactionBuilder], None] | None = None,
        submit: bool = True,
    ) -> Spend:
        utxo = self.utxo(txin)
        builder = TransactionBuilder(self.context)
        if ex_units is None:
            builder.execution_memory_buffer = 0
            builder.execution_step_buffer = 0
        script: Any = reference_script or self.script.plutus_script
        units = ExecutionUnits(ex_units.mem, ex_units.steps) if ex_units else None
        builder.add_script_input(
            utxo, script=script, redeemer=Redeemer(redeemer_data(action), units)
        )
        for extra in extra_script_inputs:
            extra_units = ExecutionUnits(PLENTY.mem, PLENTY.steps) if ex_units else None
            builder.add_script_input(
                self.utxo(extra),
                script=script,
                redeemer=Redeemer(redeemer_data(action), extra_units),
            )
        builder.add_input_address(actor.address)
        if continuing is None:
            continuing = new_datum is not None
        if continuing:
            assert new_datum is not None
            builder.add_output(
                TransactionOutput(
                    continuing_address or self.address,
                    continuing_value or utxo.output.amount,
                    datum=new_datum,
                    script=self.script.plutus_script if continuing_script else None,
                )
            )
        for out in outputs:
            builder.add_output(out)
        if validity is None:
            start, ttl = self.window()
        else:
            start, ttl = validity  # type: ignore[assignment]
        builder.validity_start = start
        builder.ttl = ttl
        who = list(required_signers) if required_signers is not None else [actor]
        builder.required_signers = [w.key_hash for w in who]
        if edit is not None:
            edit(builder)
        keys = {w.name: w.signing_key for w in [actor, *(signers or who)]}
        tx = builder.build_and_sign(list(keys.values()), change_address=actor.address)
        if submit:
            self.ledger.submit(tx.to_cbor())
        self.last_spend = Spend(tx, txin)
        return self.last_spend

    # the node's conventions for each action -------------------------------------------------

    def now_upper_ms(self, validity: tuple[int, int] | None = None) -> int:
        return self.ms((validity or self.window())[1])

    def submit_result(
        self, txin: TransactionInput, result: bytes = b"", **kwargs: Any
    ) -> TransactionInput:
        old = self.datum_at(txin)
        self.advance_to(old.seller_cooldown_time + 61_000 if old.seller_cooldown_time else 0)
        validity = kwargs.pop("validity", None) or self.window()
        state = (
            State.RESULT_SUBMITTED
            if old.current_state in (State.FUNDS_LOCKED, State.RESULT_SUBMITTED)
            else State.DISPUTED
        )
        new = old.replace(
            result_hash=result or blake2b_256(b"result" + bytes(txin.transaction_id.payload)),
            seller_cooldown_time=self.ms(validity[1]) + COOLDOWN_MS + 10 * MINUTE_MS,
            buyer_cooldown_time=0,
            state=state,
        )
        kwargs.setdefault("new_datum", new)
        spend = self.spend(txin, Action.SUBMIT_RESULT, SELLER, validity=validity, **kwargs)
        return TransactionInput(spend.tx.id, 0)

    def buyer_toggle(
        self, txin: TransactionInput, action: Action, **kwargs: Any
    ) -> TransactionInput:
        old = self.datum_at(txin)
        self.advance_to(old.buyer_cooldown_time + 61_000 if old.buyer_cooldown_time else 0)
        validity = kwargs.pop("validity", None) or self.window()
        has_result = bool(old.result)
        if action == Action.SET_REFUND_REQUESTED:
            state = State.DISPUTED if has_result else State.REFUND_REQUESTED
        else:
            state = State.RESULT_SUBMITTED if has_result else State.FUNDS_LOCKED
        new = old.replace(
            buyer_cooldown_time=self.ms(validity[1]) + COOLDOWN_MS + 10 * MINUTE_MS,
            seller_cooldown_time=0,
            state=state,
        )
        kwargs.setdefault("new_datum", new)
        spend = self.spend(txin, action, BUYER, validity=validity, **kwargs)
        return TransactionInput(spend.tx.id, 0)

    def authorize_refund(self, txin: TransactionInput, **kwargs: Any) -> TransactionInput:
        old = self.datum_at(txin)
        self.advance_to(old.seller_cooldown_time + 61_000 if old.seller_cooldown_time else 0)
        validity = kwargs.pop("validity", None) or self.window()
        new = old.replace(
            result_hash=b"",
            seller_cooldown_time=self.ms(validity[1]) + COOLDOWN_MS + 10 * MINUTE_MS,
            buyer_cooldown_time=0,
            state=State.REFUND_REQUESTED,
        )
        kwargs.setdefault("new_datum", new)
        spend = self.spend(txin, Action.AUTHORIZE_REFUND, SELLER, validity=validity, **kwargs)
        return TransactionInput(spend.tx.id, 0)

    def withdraw_outputs(self, txin: TransactionInput) -> list[TransactionOutput]:
        """The tagged fee output and the tagged collateral return, as the node writes them."""
        utxo = self.utxo(txin)
        datum = self.datum_at(txin)
        tag = OutputReference.of(txin)
        coin = utxo.output.amount.coin
        usdm = utxo.output.amount.multi_asset.get(ScriptHash(self.usdm_policy), Asset())
        usdm_qty = int(usdm.get(AssetName(self.usdm_name), 0))
        fee_value = self.value(max(fee_due(coin), 1_435_230), fee_due(usdm_qty))
        return [
            TransactionOutput(FEE_WALLET.address, fee_value, datum=tag),
            TransactionOutput(BUYER.address, datum.collateral_return_lovelace, datum=tag),
        ]


def _slot_at_or_after(world: EscrowWorld, posix_ms: int) -> int:
    start = world.ledger.genesis.system_start_ms
    return max(0, -(-(posix_ms - start) // 1000))


def _txin(txin: TransactionInput) -> Any:
    from devnet.phase1 import TxIn

    return TxIn(bytes(txin.transaction_id.payload), int(txin.index))


def plutus(data: PlutusData) -> bytes:
    return bytes(data.to_cbor())
