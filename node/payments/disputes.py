"""Admin dispute resolution: WithdrawDisputed of a Disputed escrow after its external dispute
unlock time, split as the admins decide (masumi-protocol.md §3.5).

On the devnet the node holds the devnet's public admin keys (devnet/admins.py) and signs with
the required number of them; the payment's selling wallet pays the fee. On other networks the
node answers the transaction (fee paid and signed by the selling wallet, the admins as required
signers) for the admins to sign, and `submit_signed` adds their witnesses and sends it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pycardano import (
    PaymentSigningKey,
    Transaction,
    TransactionBuilder,
    TransactionOutput,
    TransactionWitnessSet,
    UTxO,
    Value,
    VerificationKeyHash,
    VerificationKeyWitness,
    min_lovelace_post_alonzo,
)
from sqlmodel import Session

from devnet.admins import admin_signing_keys
from node.chain.builders import (
    Actor,
    BuildError,
    BuiltTx,
    EscrowBuilders,
    datum_of,
)
from node.chain.context import PortChainContext
from node.chain.port import ChainError
from node.chain.submitter import REJECTED
from node.payments.models import PaymentRequest
from node.payments.schemas import DisputeOut, DisputeResolution, DisputeSubmit, FundsIn
from node.payments.service import (
    check_network,
    find_payment,
    mirror_of,
    record_action,
)
from node.payments.workers import slot_config_of, unit_value
from node.runtime import Runtime
from node.sync.models import OnChainState, Validity
from node.sync.service import escrow_utxo
from node.wallets.models import HotWallet
from node.wallets.service import spend_from_wallet, wallet_actor
from node.web import ApiError, field_error

WALLET_WAIT_MS = 10_000


def _value(funds: Sequence[FundsIn]) -> Value:
    total = Value(0)
    for item in funds:
        total = total + unit_value(item.unit, int(item.amount))
    return total


def _hash_of(key: PaymentSigningKey) -> str:
    return str(key.to_verification_key().hash().payload.hex())


def _admin_keys(runtime: Runtime) -> list[PaymentSigningKey]:
    """The admin keys this node holds for its escrow: the devnet's, when the profile names them."""
    if runtime.profile.name != "devnet":
        return []
    wanted = set(runtime.network.escrow.admin_key_hashes)
    held = [
        k for k in admin_signing_keys() if k.to_verification_key().hash().payload.hex() in wanted
    ]
    return held[: runtime.network.escrow.required_admin_signatures]


def _disputed(session: Session, runtime: Runtime, request: DisputeResolution) -> PaymentRequest:
    row = find_payment(session, runtime, request)
    mirror = mirror_of(session, row)
    if mirror is None or mirror.validity != Validity.VALID or mirror.state != OnChainState.DISPUTED:
        state = None if mirror is None else mirror.state
        raise ApiError(
            409, f"the escrow is {state or 'not locked'}, not Disputed", code="invalid_state"
        )
    return row


def _check_split(to_buyer: Value, to_seller: Value, locked: Value) -> None:
    if not to_buyer + to_seller <= locked:
        raise field_error("sellerAmounts", "the split exceeds what the escrow holds")


def with_lovelace(
    context: PortChainContext, escrow: UTxO, to_buyer: Value, to_seller: Value
) -> tuple[Value, Value]:
    """The escrow's lovelace nobody was given: the seller's output raised to its min-ADA, the
    rest to the buyer (who put it there as min-ADA and collateral return)."""
    datum = datum_of(escrow)
    spare = escrow.output.amount.coin - to_buyer.coin - to_seller.coin
    if to_seller.multi_asset:
        seller_address = datum.seller.to_address(context.network)
        needed = min_lovelace_post_alonzo(TransactionOutput(seller_address, to_seller), context)
        top_up = max(0, min(spare, needed - to_seller.coin))
        to_seller, spare = Value(to_seller.coin + top_up, to_seller.multi_asset), spare - top_up
    return Value(to_buyer.coin + max(spare, 0), to_buyer.multi_asset), to_seller


def resolve(session: Session, runtime: Runtime, request: DisputeResolution) -> DisputeOut:
    check_network(request.network, runtime.profile)
    row = _disputed(session, runtime, request)
    mirror = mirror_of(session, row)
    wallet = session.get(HotWallet, row.selling_wallet_id)
    assert mirror is not None and runtime.chain is not None
    if wallet is None:
        raise ApiError(409, "the selling wallet is gone", code="invalid_state")
    buyer_share, seller_share = _value(request.buyer_amounts), _value(request.seller_amounts)
    utxo = escrow_utxo(runtime, mirror)
    _check_split(buyer_share, seller_share, utxo.output.amount)
    payer = wallet_actor(runtime.secrets, wallet, runtime.network.network_id)
    admins = [Actor(k, payer.address) for k in _admin_keys(runtime)]
    required = runtime.network.escrow.required_admin_signatures
    signers = runtime.network.escrow.admin_key_hashes[:required]
    contract, profile = runtime.escrow, runtime.network
    built_holder: list[BuiltTx] = []

    def build(context: PortChainContext) -> BuiltTx:
        builders = EscrowBuilders(context, contract, slot_config_of(runtime), clock=runtime.clock)
        to_buyer, to_seller = with_lovelace(context, utxo, buyer_share, seller_share)
        if len(admins) >= required:
            built = builders.withdraw_disputed(
                [payer, *admins], utxo, row.request_id, to_buyer=to_buyer, to_seller=to_seller
            )
        else:
            built = _unsigned(builders, payer, utxo, row, to_buyer, to_seller, signers)
        built_holder.append(built)
        row.dispute_tx_hash = built.tx_hash
        record_action(session, row, built.tx_hash)
        session.add(row)
        session.commit()
        return built

    if len(admins) < required:
        context = PortChainContext(runtime.chain, profile.network_id)
        built = build(context)
        return DisputeOut(
            blockchain_identifier=row.blockchain_identifier, tx_hash=built.tx_hash,
            status="AwaitingAdminSignatures", tx_cbor=built.cbor.hex(),
            required_signers=signers, required_signatures=required,
        )  # fmt: skip
    try:
        outcome = spend_from_wallet(
            runtime.engine, runtime.chain, wallet.id, profile.network_id, build,
            lock_timeout_ms=runtime.settings.wallet_lock_timeout_s * 1000, wait_ms=WALLET_WAIT_MS,
        )  # fmt: skip
    except (BuildError, ChainError) as error:
        raise ApiError(
            409, f"WithdrawDisputed cannot be built: {error}", code="build_failed"
        ) from error
    if outcome.status == REJECTED:
        raise ApiError(409, f"the ledger refused it: {outcome.error}", code="rejected")
    return DisputeOut(
        blockchain_identifier=row.blockchain_identifier, tx_hash=outcome.tx_hash,
        status=outcome.status, tx_cbor=None, required_signers=signers,
        required_signatures=required,
    )  # fmt: skip


def _unsigned(
    builders: EscrowBuilders,
    payer: Actor,
    utxo: object,
    row: PaymentRequest,
    to_buyer: Value,
    to_seller: Value,
    signers: Sequence[str],
) -> BuiltTx:
    """WithdrawDisputed with the admins as required signers, signed by the payer only."""
    from pycardano import UTxO

    from contracts.datums import Action
    from node.chain.builders import datum_of

    assert isinstance(utxo, UTxO)
    old = datum_of(utxo)
    if old.current_state.name != "DISPUTED":
        raise BuildError("the escrow is not Disputed")
    builder: TransactionBuilder = builders._builder(payer, "CollectDisputed")
    builder.required_signers = [
        payer.key_hash,
        *(VerificationKeyHash(bytes.fromhex(s)) for s in signers),
    ]
    builder.validity_start, builder.ttl = builders._window(
        not_before_ms=old.external_dispute_unlock_time
    )
    builders._spend_escrow(builder, utxo, Action.WITHDRAW_DISPUTED, None)
    network = builders.context.network
    for address, value in ((old.buyer.to_address(network), to_buyer),
                           (old.seller.to_address(network), to_seller)):  # fmt: skip
        if value.coin or value.multi_asset:
            builder.add_output(TransactionOutput(address, value))
    tx = builder.build_and_sign([payer.signing_key], change_address=payer.address)
    return BuiltTx(tx, "CollectDisputed", (row.request_id,))


def submit_signed(runtime: Runtime, request: DisputeSubmit) -> DisputeOut:
    """Add the admins' vkey witnesses to the transaction `resolve` answered, and send it."""
    check_network(request.network, runtime.profile)
    assert runtime.chain is not None
    try:
        tx = Transaction.from_cbor(request.tx_cbor)
        extra = [VerificationKeyWitness.from_cbor(w) for w in request.witnesses]
    except Exception as error:  # pycardano raises many kinds on bad CBOR
        raise field_error("txCbor", f"not a transaction and vkey witnesses: {error}") from error
    witnesses: TransactionWitnessSet = tx.transaction_witness_set
    witnesses.vkey_witnesses = [*(witnesses.vkey_witnesses or []), *extra]
    try:
        tx_hash = runtime.chain.submit(bytes(tx.to_cbor()))
    except ChainError as error:
        raise ApiError(409, f"the ledger refused it: {error}", code="rejected") from error
    required = runtime.network.escrow.required_admin_signatures
    return DisputeOut(
        blockchain_identifier="", tx_hash=tx_hash, status="Submitted", tx_cbor=None,
        required_signers=runtime.network.escrow.admin_key_hashes[:required],
        required_signatures=required,
    )  # fmt: skip
