"""The seller side's logic behind the API (masumi-protocol.md §9.3): payment requests with a
signed blockchainIdentifier, reads joined with the mirror's on-chain state, and the requests a
worker then carries out (submit result, authorize refund) or a person clears (error recovery).

Only node/sync writes on-chain state; here the next action, the result hash and the usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pycardano import Address
from sqlalchemy import Text, and_, cast, exists, false, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from node.auth.service import Caller
from node.chain.port import ChainError, ChainNotFound
from node.clock import iso_from_ms, now_ms
from node.config import NetworkProfile
from node.ids import new_id
from node.payments import events
from node.payments.models import ErrorType, NextAction, PaymentAction, PaymentRequest
from node.payments.schemas import (
    ActionOut,
    BuyerWalletOut,
    ErrorStateRecovery,
    FundsIn,
    FundsOut,
    NextActionOut,
    PaymentCreate,
    PaymentOut,
    PaymentRef,
    PaymentSourceOut,
    SubmitResult,
    TransactionOut,
    WalletOut,
)
from node.payments.signing import PaymentTimes, create_blockchain_identifier
from node.pricing.models import PricingQuote
from node.pricing.service import resolve_unit, settle_request
from node.runtime import Runtime
from node.sync.models import EscrowEvent, EscrowMirror, OnChainState, RowStatus, Validity
from node.units import normalise_unit
from node.wallets.models import HotWallet, HotWalletType
from node.wallets.service import wallet_keys
from node.web import (
    ApiError,
    DiffKind,
    ListFilters,
    changed_since,
    conflict,
    field_error,
    not_found,
)
from registry.identifiers import POLICY_ID_HEX
from registry.metadata import PricingMode
from registry.onchain import OnchainAgent, read_agent

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DEFAULT_PAY_BY_MS = HOUR_MS  # from now
DEFAULT_SUBMIT_RESULT_MS = 12 * HOUR_MS  # from now
DEFAULT_UNLOCK_AFTER_MS = 6 * HOUR_MS  # after submitResultTime
DEFAULT_DISPUTE_AFTER_MS = 12 * HOUR_MS  # after submitResultTime
INVALID_STATE = "FundsOrDatumInvalid"
SUBMITTABLE = {OnChainState.FUNDS_LOCKED, OnChainState.REFUND_REQUESTED, OnChainState.DISPUTED}


# --- creating a payment request ------------------------------------------------------------


def check_network(network: str, profile: NetworkProfile) -> None:
    if network != profile.display_name:
        raise field_error("network", f"this node serves {profile.display_name}")


def payment_times(request: PaymentCreate, now: int) -> PaymentTimes:
    """§9.3's defaults and rules; a broken rule is a 422 naming the field."""
    submit = request.submit_result_time or now + DEFAULT_SUBMIT_RESULT_MS
    pay_by = request.pay_by_time or min(now + DEFAULT_PAY_BY_MS, submit - 5 * MINUTE_MS)
    unlock = request.unlock_time or submit + DEFAULT_UNLOCK_AFTER_MS
    dispute = request.external_dispute_unlock_time or submit + DEFAULT_DISPUTE_AFTER_MS
    rules = (
        ("payByTime", pay_by >= now - 5 * MINUTE_MS, "must be at most 5 minutes in the past"),
        ("payByTime", pay_by <= submit - 5 * MINUTE_MS, "must be ≥ 5 min before submitResultTime"),
        ("submitResultTime", submit >= now + 15 * MINUTE_MS, "must be ≥ 15 minutes from now"),
        ("unlockTime", unlock >= submit + 15 * MINUTE_MS, "must be ≥ submitResultTime + 15 min"),
        (
            "externalDisputeUnlockTime",
            dispute >= unlock + 15 * MINUTE_MS,
            "must be ≥ unlockTime + 15 min",
        ),
    )
    for field, holds, message in rules:
        if not holds:
            raise field_error(field, message)
    return PaymentTimes(pay_by, submit, unlock, dispute)


# How old the chain's word on our own agent may be when a payment is created: the buyer checks
# the holder and pricing against the chain itself, so a stale answer cannot cheat it.
AGENT_MAX_AGE_MS = 30_000


@dataclass(frozen=True)
class AgentFacts:
    agent: OnchainAgent
    wallet: HotWallet
    mode: PricingMode


def agent_facts(session: Session, runtime: Runtime, agent_identifier: str) -> AgentFacts:
    """The agent as the chain shows it: under our registry policy, held by one of our Selling
    wallets, with readable metadata."""
    field = "agentIdentifier"
    policy = runtime.network.registry.policy_id
    if agent_identifier[:POLICY_ID_HEX].lower() != (policy or "").lower():
        raise field_error(field, "is not under this node's registry policy")
    if runtime.chain is None:
        raise ApiError(503, "this node has no chain", code="no_chain")
    try:
        unit, chain = agent_identifier.lower(), runtime.chain
        agent = runtime.recent.get(
            f"agent:{unit}", AGENT_MAX_AGE_MS, lambda: read_agent(chain, unit)
        )
    except ChainNotFound as error:
        raise field_error(field, "no such agent on chain") from error
    except (ChainError, ValueError) as error:
        raise field_error(field, f"cannot be read from the chain: {error}") from error
    if agent.burned or agent.holder is None or agent.metadata is None:
        raise field_error(field, "is deregistered or its metadata is unreadable")
    wallet = session.exec(
        select(HotWallet).where(
            HotWallet.network == runtime.profile.name,
            HotWallet.address == agent.holder,
            HotWallet.type == HotWalletType.SELLING,
        )
    ).first()
    if wallet is None:
        raise field_error(field, "its NFT is not held by a Selling wallet of this node")
    return AgentFacts(agent, wallet, agent.metadata.pricing_mode)


def same_funds(left: Sequence[FundsIn | dict[str, str]], right: Sequence[tuple[int, str]]) -> bool:
    def key(amount: int, unit: str) -> tuple[int, str]:
        return amount, normalise_unit(unit) if unit else ""

    try:
        mine = sorted(key(int(_get(f, "amount")), _get(f, "unit")) for f in left)
        theirs = sorted(key(amount, unit) for amount, unit in right)
    except ValueError:
        return False
    return mine == theirs


def _get(funds: FundsIn | dict[str, str], name: str) -> str:
    return str(funds[name] if isinstance(funds, dict) else getattr(funds, name))


def _funds(request: PaymentCreate) -> list[dict[str, str]] | None:
    if request.requested_funds is None:
        return None
    return [{"amount": f.amount, "unit": f.unit} for f in request.requested_funds]


def priced_funds(
    session: Session, facts: AgentFacts, request: PaymentCreate, now: int, profile: NetworkProfile
) -> tuple[list[dict[str, str]], bool]:
    """(what the buyer locks, whether it is signed as RequestedFunds) for the agent's mode."""
    field, funds = "RequestedFunds", _funds(request)
    metadata = facts.agent.metadata
    assert metadata is not None
    tiers = [(a.quantity, a.unit) for a in metadata.amounts]
    if facts.mode is PricingMode.FREE:
        raise field_error("agentIdentifier", "a Free agent takes no payment")
    if facts.mode is PricingMode.FIXED:
        if funds is not None:
            raise field_error(field, "must be absent: the agent's price is Fixed")
        if request.quote_id is not None:
            raise field_error("quoteId", "a Fixed agent takes no quote")
        return [{"amount": str(q), "unit": u} for q, u in tiers], False
    if funds is None:
        raise field_error(field, f"is required for a {facts.mode.value} agent")
    if facts.mode is PricingMode.FIXED_PRICES and not any(
        same_funds(funds, [tier]) for tier in tiers
    ):
        raise field_error(field, "must equal one of the agent's prices")
    if request.quote_id is not None:
        _check_quote(session, facts, request, funds, now, profile)
    return funds, True


def _check_quote(
    session: Session,
    facts: AgentFacts,
    request: PaymentCreate,
    funds: list[dict[str, str]],
    now: int,
    profile: NetworkProfile,
) -> None:
    quote = session.get(PricingQuote, request.quote_id)
    if quote is None or quote.agent_identifier.lower() != request.agent_identifier.lower():
        raise field_error("quoteId", "no such quote for this agent")
    if quote.expires_at < now:
        raise field_error("quoteId", "the quote has expired")
    if facts.mode is not PricingMode.DYNAMIC:
        raise field_error("quoteId", "only a Dynamic agent settles by quote")
    unit = resolve_unit(profile, quote.unit, "quoteId")[0]
    if not same_funds(funds, [(quote.reserve, unit)]):
        raise field_error("RequestedFunds", "must be the quote's reserve")


def _existing(session: Session, network: str, request: PaymentCreate) -> PaymentRequest | None:
    return session.exec(
        select(PaymentRequest).where(
            PaymentRequest.network == network,
            PaymentRequest.agent_identifier == request.agent_identifier.lower(),
            PaymentRequest.identifier_from_purchaser == request.identifier_from_purchaser.lower(),
            PaymentRequest.input_hash == request.input_hash.lower(),
        )
    ).first()


def create_payment(
    session: Session, runtime: Runtime, request: PaymentCreate, caller: Caller
) -> PaymentRequest:
    """A payment request for one job: checked, signed by the selling wallet holding the NFT."""
    check_network(request.network, runtime.profile)
    now = runtime.clock()
    times = payment_times(request, now)
    existing = _existing(session, runtime.profile.name, request)
    if existing is not None:
        raise conflict(
            "this job already has a payment request",
            existing.id,
            to_out(session, runtime, existing),
        )
    facts = agent_facts(session, runtime, request.agent_identifier)
    funds, signed = priced_funds(session, facts, request, runtime.clock(), runtime.network)
    keys = wallet_keys(runtime.secrets, facts.wallet, runtime.network.network_id)
    created = create_blockchain_identifier(
        signing_key=keys.payment_signing_key,
        seller_address=facts.wallet.address,
        agent_identifier=request.agent_identifier.lower(),
        identifier_from_purchaser=request.identifier_from_purchaser.lower(),
        input_hash=request.input_hash.lower(),
        requested_funds=funds if signed else None,
        times=times,
    )
    row = PaymentRequest(
        id=new_id(), network=runtime.profile.name,
        blockchain_identifier=created.blockchain_identifier, request_id=created.request_id,
        agent_identifier=request.agent_identifier.lower(), agent_name=facts.agent.name,
        pricing_mode=facts.mode.value, selling_wallet_id=facts.wallet.id,
        seller_address=facts.wallet.address, seller_vkey=facts.wallet.payment_key_hash,
        identifier_from_purchaser=request.identifier_from_purchaser.lower(),
        input_hash=request.input_hash.lower(), pay_by_time=times.pay_by_time,
        submit_result_time=times.submit_result_time, unlock_time=times.unlock_time,
        external_dispute_unlock_time=times.external_dispute_unlock_time,
        requested_funds=funds, funds_signed=signed, quote_id=request.quote_id,
        metadata_text=request.metadata, next_action=NextAction.WAITING_FOR_EXTERNAL_ACTION,
        next_action_changed_at=now_ms(), requested_by_id=caller.key.id,
        created_at=now_ms(), updated_at=now_ms(),
    )  # fmt: skip
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        session.rollback()
        raise ApiError(409, "this blockchainIdentifier exists", code="conflict") from error
    record_action(session, row)
    session.commit()
    return row


# --- reading --------------------------------------------------------------------------------


def mirror_of(session: Session, row: PaymentRequest) -> EscrowMirror | None:
    """The escrow the chain shows for this request: a valid one first, else the newest."""
    rows = session.exec(
        select(EscrowMirror).where(
            EscrowMirror.network == row.network,
            EscrowMirror.blockchain_identifier == row.blockchain_identifier,
            EscrowMirror.status == RowStatus.CONFIRMED,
        )
    ).all()
    if not rows:
        return None
    return max(rows, key=lambda m: (m.validity == Validity.VALID, m.locked_at, m.id))


def on_chain_state(row: PaymentRequest, mirror: EscrowMirror | None) -> str | None:
    if mirror is None:
        return INVALID_STATE if row.seen_state == INVALID_STATE else None
    if mirror.validity != Validity.VALID:
        return INVALID_STATE
    return None if mirror.state is None else str(mirror.state)


def find_payment(session: Session, runtime: Runtime, ref: PaymentRef) -> PaymentRequest:
    check_network(ref.network, runtime.profile)
    row = session.exec(
        select(PaymentRequest).where(
            PaymentRequest.network == runtime.profile.name,
            PaymentRequest.blockchain_identifier == ref.blockchain_identifier.lower(),
        )
    ).first()
    if row is None:
        raise not_found("payment")
    return row


def _mirror_exists(*conditions: Any) -> Any:
    """A confirmed escrow of the payment request (network + identifier) meeting `conditions`."""
    return exists().where(
        col(EscrowMirror.network) == col(PaymentRequest.network),
        col(EscrowMirror.blockchain_identifier) == col(PaymentRequest.blockchain_identifier),
        col(EscrowMirror.status) == RowStatus.CONFIRMED,
        *conditions,
    )


def _state_is(state: str) -> Any:
    """`on_chain_state(row, mirror_of(row)) == state` in SQL: a valid escrow's state; otherwise
    FundsOrDatumInvalid for an invalid escrow or a request that timed out unpaid."""
    valid = col(EscrowMirror.validity) == Validity.VALID
    if state == INVALID_STATE:
        return and_(
            ~_mirror_exists(valid),
            or_(_mirror_exists(), col(PaymentRequest.seen_state) == INVALID_STATE),
        )
    return _mirror_exists(valid, col(EscrowMirror.state) == state)


def _matches(text: str) -> Any:
    """The search text inside an identifier, hash, name or state of the request or its escrow."""

    def has(column: Any) -> Any:
        return func.lower(column).contains(text, autoescape=True)

    own = [
        has(col(PaymentRequest.id)), has(col(PaymentRequest.blockchain_identifier)),
        has(col(PaymentRequest.request_id)), has(col(PaymentRequest.agent_identifier)),
        has(col(PaymentRequest.agent_name)), has(col(PaymentRequest.identifier_from_purchaser)),
        has(col(PaymentRequest.input_hash)), has(col(PaymentRequest.result_hash)),
        has(col(PaymentRequest.intended_tx_hash)), has(col(PaymentRequest.dispute_tx_hash)),
        has(col(PaymentRequest.next_action)), has(col(PaymentRequest.seen_state)),
    ]  # fmt: skip
    escrow = _mirror_exists(
        or_(
            has(cast(col(EscrowMirror.tx_hashes), Text)),
            has(col(EscrowMirror.state)),
            has(col(EscrowMirror.buyer_address)),
        )
    )
    return or_(*own, escrow)


def _filtered(query: Any, runtime: Runtime, filters: ListFilters) -> Any:
    query = query.where(PaymentRequest.network == runtime.profile.name)
    if filters.on_chain_state is not None:
        query = query.where(_state_is(filters.on_chain_state))
    if filters.needs_manual_action:
        query = query.where(
            or_(
                col(PaymentRequest.next_action) == NextAction.WAITING_FOR_MANUAL_ACTION,
                col(PaymentRequest.error_type).is_not(None),
            )
        )
    if filters.search:
        query = query.where(_matches(filters.search))
    if filters.other_source(runtime.network.escrow.address):
        query = query.where(false())
    return query


def list_payments(
    session: Session,
    runtime: Runtime,
    *,
    limit: int,
    cursor_id: str | None,
    filters: ListFilters,
) -> list[PaymentRequest]:
    """Newest first; keyset on id."""
    query = _filtered(select(PaymentRequest), runtime, filters)
    if cursor_id is not None:
        query = query.where(col(PaymentRequest.id) < cursor_id)
    return list(session.exec(query.order_by(col(PaymentRequest.id).desc()).limit(limit)))


def count_payments(session: Session, runtime: Runtime, filters: ListFilters) -> int:
    query = _filtered(select(func.count()).select_from(PaymentRequest), runtime, filters)
    return int(session.exec(query).one())


def diff_payments(
    session: Session,
    runtime: Runtime,
    *,
    since: int,
    cursor_id: str | None,
    limit: int,
    kind: DiffKind = "any",
) -> list[PaymentRequest]:
    """Requests changed at or after `since`, oldest change first: any change (next action,
    error, result, on-chain state), the next action only, or the escrow on chain only (the
    mirror's write time: a rollback is a change too)."""
    query = select(PaymentRequest).where(PaymentRequest.network == runtime.profile.name)
    changed = {
        "any": col(PaymentRequest.updated_at),
        "next_action": col(PaymentRequest.next_action_changed_at),
        "on_chain": _escrow_changed_at(),
    }[kind]
    query = changed_since(query, changed, col(PaymentRequest.id), since, cursor_id)
    return list(session.exec(query.limit(limit)))


def _escrow_changed_at() -> Any:
    return (
        select(func.max(EscrowMirror.updated_at))
        .where(
            col(EscrowMirror.network) == col(PaymentRequest.network),
            col(EscrowMirror.blockchain_identifier) == col(PaymentRequest.blockchain_identifier),
        )
        .scalar_subquery()
    )


def _funds_out(amounts: dict[str, int]) -> list[FundsOut]:
    return [FundsOut(amount=str(q), unit=u) for u, q in sorted(amounts.items()) if q]


def _history(
    session: Session, row: PaymentRequest, mirror: EscrowMirror | None
) -> tuple[list[TransactionOut], list[ActionOut]]:
    actions = session.exec(
        select(PaymentAction)
        .where(PaymentAction.payment_id == row.id)
        .order_by(col(PaymentAction.created_at), col(PaymentAction.id))
    ).all()
    txs: list[TransactionOut] = []
    if mirror is not None:
        for event in session.exec(
            select(EscrowEvent)
            .where(EscrowEvent.escrow_id == mirror.id)
            .order_by(col(EscrowEvent.position))
        ).all():
            txs.append(TransactionOut(tx_hash=event.tx_hash, status=str(event.status)))
    history = [
        ActionOut(
            requested_action=str(a.action),
            error_type=a.error_type,
            error_note=a.error_note,
            tx_hash=a.tx_hash,
            created_at=iso_from_ms(a.created_at),
        )
        for a in actions
    ]
    return txs, history


def _current_transaction(row: PaymentRequest, mirror: EscrowMirror | None) -> TransactionOut | None:
    pending = str(row.next_action).endswith("Initiated") and row.intended_tx_hash
    if pending and row.intended_tx_hash:
        return TransactionOut(tx_hash=row.intended_tx_hash, status="Pending")
    if mirror is not None and mirror.last_tx_hash:
        return TransactionOut(tx_hash=mirror.last_tx_hash, status="Confirmed")
    return None


def _charge(row: PaymentRequest) -> FundsOut | None:
    if row.charge is None:
        return None
    return FundsOut(amount=str(row.charge), unit=row.charge_unit or "")


def to_out(
    session: Session, runtime: Runtime, row: PaymentRequest, include_history: bool = False
) -> PaymentOut:
    mirror = mirror_of(session, row)
    wallet = session.get(HotWallet, row.selling_wallet_id)
    profile = runtime.profile
    txs, actions = _history(session, row, mirror) if include_history else (None, None)
    return PaymentOut(
        id=row.id, created_at=iso_from_ms(row.created_at), updated_at=iso_from_ms(row.updated_at),
        blockchain_identifier=row.blockchain_identifier, request_id=row.request_id,
        agent_identifier=row.agent_identifier, agent_name=row.agent_name,
        pricing_type=row.pricing_mode, pay_by_time=str(row.pay_by_time),
        submit_result_time=str(row.submit_result_time), unlock_time=str(row.unlock_time),
        external_dispute_unlock_time=str(row.external_dispute_unlock_time),
        collateral_return_lovelace=None if mirror is None else str(mirror.collateral_return),
        identifier_from_purchaser=row.identifier_from_purchaser, input_hash=row.input_hash,
        result_hash=row.result_hash, on_chain_state=on_chain_state(row, mirror),
        invalid_reason=None if mirror is None else mirror.invalid_reason,
        cooldown_time=str(0 if mirror is None else mirror.seller_cooldown_time),
        cooldown_time_other_party=str(0 if mirror is None else mirror.buyer_cooldown_time),
        requested_by_id=row.requested_by_id, quote_id=row.quote_id, usage=row.usage,
        charge=_charge(row), metadata=row.metadata_text,
        next_action=NextActionOut(
            requested_action=str(row.next_action), error_type=row.error_type,
            error_note=row.error_note, result_hash=row.result_hash or None,
        ),
        current_transaction=_current_transaction(row, mirror),
        requested_funds=[FundsOut(**f) for f in row.requested_funds],
        withdrawn_for_seller=_funds_out(mirror.withdrawn_seller) if mirror else [],
        withdrawn_for_buyer=_funds_out(mirror.withdrawn_buyer) if mirror else [],
        smart_contract_wallet=WalletOut(
            id=row.selling_wallet_id, wallet_vkey=row.seller_vkey,
            wallet_address=wallet.address if wallet else row.seller_address,
        ),
        buyer_wallet=None if mirror is None else BuyerWalletOut(
            wallet_vkey=mirror.buyer_key_hash, wallet_address=mirror.buyer_address
        ),
        payment_source=PaymentSourceOut(
            network=profile.display_name, payment_source_type="Web3CardanoV1",
            smart_contract_address=profile.escrow.address, policy_id=profile.registry.policy_id,
        ),
        transaction_history=txs, action_history=actions,
    )  # fmt: skip


# --- requests a worker carries out ------------------------------------------------------------


def record_action(session: Session, row: PaymentRequest, tx_hash: str | None = None) -> None:
    session.add(
        PaymentAction(
            id=new_id(),
            payment_id=row.id,
            action=row.next_action,
            error_type=row.error_type,
            error_note=row.error_note,
            tx_hash=tx_hash,
            created_at=now_ms(),
        )
    )


def set_action(
    session: Session,
    row: PaymentRequest,
    action: NextAction,
    *,
    error: tuple[ErrorType, str] | None = None,
    tx_hash: str | None = None,
) -> None:
    """The next action (and error), its history line, and PAYMENT_ON_ERROR for an error."""
    now = now_ms()
    if action != row.next_action:
        row.next_action_changed_at = now
    row.next_action = action
    row.error_type, row.error_note = (error[0], error[1][:2000]) if error else (None, None)
    row.updated_at = now
    session.add(row)
    record_action(session, row, tx_hash)
    if error is not None:
        events.payment_event(session, events.PAYMENT_ON_ERROR, row)


def _require_creator(row: PaymentRequest, caller: Caller) -> None:
    if row.requested_by_id != caller.key.id and not caller.key.can_admin:
        raise ApiError(403, "only the key that created the payment (or admin)", code="forbidden")


def _require_waiting(row: PaymentRequest) -> None:
    if row.next_action != NextAction.WAITING_FOR_EXTERNAL_ACTION or row.error_type is not None:
        raise ApiError(
            409, f"the payment's next action is {row.next_action!s}", code="invalid_state"
        )


def _usage_of(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    for metric, quantity in usage.items():
        if isinstance(quantity, bool) or not isinstance(quantity, (int, str)):
            raise field_error(f"usage.{metric}", "must be an integer quantity")
        if isinstance(quantity, str) and not quantity.isdigit():
            raise field_error(f"usage.{metric}", "must be an integer quantity")
    return {metric: int(quantity) for metric, quantity in usage.items()}


def submit_result(
    session: Session, runtime: Runtime, request: SubmitResult, caller: Caller
) -> PaymentRequest:
    row = find_payment(session, runtime, request)
    _require_creator(row, caller)
    usage = _usage_of(request.usage)
    state = on_chain_state(row, mirror_of(session, row))
    if state not in {s.value for s in SUBMITTABLE}:
        raise ApiError(409, f"the escrow is {state or 'not locked yet'}", code="invalid_state")
    _require_waiting(row)
    if row.quote_id is not None:
        _settle(session, runtime, row, usage)
    row.result_hash = request.submit_result_hash.lower()
    row.usage = usage
    set_action(session, row, NextAction.SUBMIT_RESULT_REQUESTED)
    session.commit()
    return row


def _settle(
    session: Session, runtime: Runtime, row: PaymentRequest, usage: dict[str, Any] | None
) -> None:
    """A metered job's charge by the quote's plan, capped at the reserve (idempotent)."""
    quote = session.get(PricingQuote, row.quote_id)
    if quote is None:
        raise ApiError(409, "the payment's quote is gone", code="invalid_state")
    settlement = settle_request(
        session, runtime.profile, row.agent_identifier, buyer=quote.buyer,
        request_id=row.request_id, usage=usage, reserved=quote.reserve, option=quote.option,
    )  # fmt: skip
    row.charge = min(settlement.charged, quote.reserve)
    row.charge_unit = resolve_unit(runtime.network, quote.unit, "quoteId")[0]


def authorize_refund(
    session: Session, runtime: Runtime, request: PaymentRef, caller: Caller
) -> PaymentRequest:
    row = find_payment(session, runtime, request)
    _require_creator(row, caller)
    state = on_chain_state(row, mirror_of(session, row))
    if state != OnChainState.DISPUTED.value:
        raise ApiError(
            409, f"the escrow is {state or 'not locked'}; only a Disputed one", code="invalid_state"
        )
    _require_waiting(row)
    set_action(session, row, NextAction.AUTHORIZE_REFUND_REQUESTED)
    session.commit()
    return row


def recover(session: Session, runtime: Runtime, request: ErrorStateRecovery) -> PaymentRequest:
    """Clear an error: back to WaitingForExternalAction, or to the last *Requested action."""
    row = find_payment(session, runtime, request)
    if row.updated_at != request.updated_at:
        raise ApiError(409, "the payment changed since updatedAt", code="stale")
    manual = row.next_action == NextAction.WAITING_FOR_MANUAL_ACTION
    if not manual and row.error_type is None:
        raise ApiError(409, "the payment is in no error state", code="invalid_state")
    action = NextAction.WAITING_FOR_EXTERNAL_ACTION
    if request.retry_previous_action:
        action = _previous_requested(session, row) or action
    set_action(session, row, action)
    session.commit()
    return row


def _previous_requested(session: Session, row: PaymentRequest) -> NextAction | None:
    actions = session.exec(
        select(PaymentAction)
        .where(PaymentAction.payment_id == row.id)
        .order_by(col(PaymentAction.created_at).desc(), col(PaymentAction.id).desc())
    ).all()
    for action in actions:
        if str(action.action).endswith("Requested"):
            return action.action
    return None


def seller_address_of(row: PaymentRequest) -> Address:
    return Address.from_primitive(row.seller_address)
