"""Buyer-side logic behind the routes: quotes from an agent's /start_job, purchases (verified,
credited, queued for a batched lock), refund requests, listing, resolving and error recovery.

The on-chain state of a purchase is read from node.sync's EscrowMirror, joined on network,
request id and our lock transaction (a lock someone else made under our identifier is not ours);
this package writes only its next action, errors and intended transaction hashes.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, exists, false, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from node.auth.models import ApiKey, ApiKeyCredit
from node.clock import iso_from_ms, now_ms
from node.config import NetworkProfile
from node.ids import new_id
from node.payments import hashes
from node.purchases import checks as _checks  # noqa: F401  (registers the lock check)
from node.purchases import offers
from node.purchases.models import Purchase, PurchaseAction, PurchaseErrorType, PurchaseQuote
from node.purchases.offers import ChainAgent, Funds, Offer, StartJobAnswer
from node.purchases.schemas import (
    PurchaseActionOut,
    PurchaseAmount,
    PurchaseCreate,
    PurchaseErrorRecovery,
    PurchaseNextAction,
    PurchaseOut,
    PurchasePaymentSource,
    PurchaseQuoteCreate,
    PurchaseQuoteOut,
    PurchaseRef,
    PurchaseTransaction,
    PurchaseWallet,
)
from node.runtime import Runtime
from node.sync.models import EscrowEvent, EscrowMirror, OnChainState, RowStatus, Validity
from node.units import MAX_AMOUNT
from node.wallets.models import HotWallet, HotWalletType, WalletTransaction
from node.web import (
    ApiError,
    DiffKind,
    ListFilters,
    changed_since,
    conflict,
    field_error,
    not_found,
)
from registry.metadata import PricingMode

BATCH_SIZE = 10  # purchases per lock transaction
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INVALID_STATE = "FundsOrDatumInvalid"


def check_network(network: str, profile: NetworkProfile) -> None:
    if network != profile.display_name:
        raise field_error("network", f"this node serves {profile.display_name}")


# quotes -------------------------------------------------------------------------------------


def random_purchaser_id() -> str:
    """14 to 26 hex characters (7 to 13 random bytes)."""
    return secrets.token_hex(7 + secrets.randbelow(7))


def create_quote(
    session: Session, runtime: Runtime, key: ApiKey, request: PurchaseQuoteCreate
) -> PurchaseQuote:
    """Ask the agent for the job, verify its answer against the chain, store it. No lock."""
    profile = runtime.network
    check_network(request.network, profile)
    agent = offers.read_chain_agent(runtime.chain, request.agent_identifier)
    purchaser = (request.identifier_from_purchaser or random_purchaser_id()).lower()
    extra = _start_job_extra(session, profile, agent, request)
    answer = offers.start_job(agent.api_base_url, purchaser, request.input_data, extra)
    now = runtime.clock()
    try:
        offer, funds = _verified_answer(agent, answer, purchaser, request.input_data, now)
        seller_quote, expires_at = _seller_quote(agent, answer, funds, offer.pay_by_time, now)
    except ApiError as error:
        raise _refused_answer(error) from error
    quote = PurchaseQuote(
        id=new_id(), network=profile.name, agent_identifier=agent.agent_identifier,
        pricing_mode=agent.mode.value, job_id=answer.id[:250],
        blockchain_identifier=offer.blockchain_identifier,
        request_id=offers.request_id_of(offer.blockchain_identifier),
        pay_by_time=offer.pay_by_time, submit_result_time=offer.submit_result_time,
        unlock_time=offer.unlock_time,
        external_dispute_unlock_time=offer.external_dispute_unlock_time,
        amounts=offer.amounts if offer.amounts is not None else funds,
        seller_vkey=offer.seller_vkey.lower(), seller_address=agent.holder,
        input_hash=offer.input_hash, identifier_from_purchaser=purchaser,
        seller_quote=seller_quote,
        seller_quote_id=str(seller_quote["id"])[:64] if seller_quote and "id" in seller_quote
        else None,
        expires_at=expires_at, verified=True, created_at=now_ms(), created_by=key.id,
    )  # fmt: skip
    session.add(quote)
    session.commit()
    return quote


def _start_job_extra(
    session: Session, profile: NetworkProfile, agent: ChainAgent, request: PurchaseQuoteCreate
) -> dict[str, Any]:
    """The agent kit's optional fields, sent only when they mean something (MIP-003 agents
    know neither): the tier asked for, and who buys from a Dynamic agent (its free quota)."""
    extra: dict[str, Any] = {}
    if request.option is not None:
        if agent.mode is not PricingMode.FIXED_PRICES:
            raise field_error("option", "only a Fixed+prices agent has price tiers")
        extra["option"] = request.option
    buyer = request.buyer
    if buyer is None and agent.mode is PricingMode.DYNAMIC:
        wallets = _purchasing_wallets(session, profile.name)
        buyer = wallets[0].payment_key_hash if wallets else None
    if buyer is not None:
        extra["buyer"] = buyer
    return extra


def _refused_answer(error: ApiError) -> ApiError:
    if error.status_code != 422:
        return error
    return ApiError(
        422,
        f"the agent's /start_job answer does not verify: {error.message}",
        code="quote_refused",
        fields=error.fields,
    )


def _verified_answer(
    agent: ChainAgent,
    answer: StartJobAnswer,
    purchaser: str,
    input_data: Mapping[str, Any],
    now: int,
) -> tuple[Offer, Funds]:
    if answer.identifier_from_purchaser.lower() != purchaser:
        raise field_error("identifierFromPurchaser", "is not the one we sent")
    if answer.agent_identifier.lower() != agent.agent_identifier:
        raise field_error("agentIdentifier", "is not the agent we asked")
    _check_input_hash(answer.input_hash, purchaser, input_data)
    given = None if answer.amounts is None else offers.parse_funds(answer.amounts, "amounts")
    offered = None if agent.mode is PricingMode.FIXED else given
    funds = offers.paid_funds(agent, given, "amounts")
    offer = Offer(
        blockchain_identifier=answer.blockchain_identifier,
        agent_identifier=agent.agent_identifier,
        identifier_from_purchaser=purchaser,
        seller_vkey=answer.seller_vkey.lower(),
        input_hash=answer.input_hash,
        pay_by_time=answer.pay_by_time,
        submit_result_time=answer.submit_result_time,
        unlock_time=answer.unlock_time,
        external_dispute_unlock_time=answer.external_dispute_unlock_time,
        amounts=offered,
    )
    offers.check_times(offer, now)
    offers.verify_offer(agent, offer)
    return offer, funds


def _check_input_hash(given: str, purchaser: str, input_data: Mapping[str, Any]) -> None:
    """MIP-004: the hash the seller signed is the hash of what we send."""
    if hashes.match_input_hash(purchaser, input_data, given) is None:
        raise field_error("input_hash", "is not the MIP-004 hash of our input")


def _seller_quote(
    agent: ChainAgent, answer: StartJobAnswer, funds: Funds, pay_by_time: int, now: int
) -> tuple[dict[str, Any] | None, int]:
    """The seller node's pricing quote (Dynamic agents): unexpired, and what it reserves is
    what the identifier asks to lock. Our quote expires with it, or at the pay-by time."""
    quote = answer.quote
    if quote is None:
        return None, pay_by_time
    expires = _posix(quote.get("expiresAt"), "quote.expiresAt")
    if expires <= now:
        raise field_error("quote.expiresAt", "the seller's quote has already expired")
    reserve, unit = quote.get("reserve"), quote.get("unit")
    if reserve is not None and unit is not None:
        expected = offers.funds_key([{"amount": str(reserve), "unit": str(unit)}])
        if offers.funds_key(funds) != expected:
            raise field_error("amounts", "differ from the reserve of the seller's quote")
    return dict(quote), min(expires, pay_by_time)


def _posix(value: object, field: str) -> int:
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not text.isdigit() or len(text) > 16:
        raise field_error(field, "must be POSIX milliseconds")
    return int(text)


def quote_out(quote: PurchaseQuote) -> PurchaseQuoteOut:
    return PurchaseQuoteOut(
        id=quote.id,
        network=quote.network,
        agent_identifier=quote.agent_identifier,
        pricing_mode=quote.pricing_mode,
        job_id=quote.job_id,
        blockchain_identifier=quote.blockchain_identifier,
        request_id=quote.request_id,
        pay_by_time=quote.pay_by_time,
        submit_result_time=quote.submit_result_time,
        unlock_time=quote.unlock_time,
        external_dispute_unlock_time=quote.external_dispute_unlock_time,
        amounts=[PurchaseAmount(amount=a["amount"], unit=a["unit"]) for a in quote.amounts],
        seller_vkey=quote.seller_vkey,
        seller_address=quote.seller_address,
        input_hash=quote.input_hash,
        identifier_from_purchaser=quote.identifier_from_purchaser,
        seller_quote=quote.seller_quote,
        expires_at=quote.expires_at,
        verified=quote.verified,
        created_at=quote.created_at,
    )


# purchases ----------------------------------------------------------------------------------


def create_purchase(
    session: Session, runtime: Runtime, key: ApiKey, request: PurchaseCreate
) -> Purchase:
    """Verify, charge the key's usage credits, queue the lock (FundsLockingRequested)."""
    profile = runtime.network
    check_network(request.network, profile)
    _check_contract(request.smart_contract_address, profile)
    existing = find_purchase(session, profile.name, request.blockchain_identifier)
    if existing is not None:
        raise conflict(
            "this purchase exists already", existing.id, purchase_out(session, profile, existing)
        )
    now = runtime.clock()
    quote = _confirmed_quote(session, profile, request, now)
    offered = _offered(request, quote)
    agent = offers.read_chain_agent(runtime.chain, request.agent_identifier)
    funds = offers.paid_funds(agent, offered, "Amounts")
    _check_confirmed(request, quote, funds)
    offer = _offer_of(request, offers.requested_funds(agent, offered))
    offers.check_times(offer, now)
    offers.verify_offer(agent, offer)
    wallet = _purchasing_wallet(session, profile.name)
    _charge_credits(session, key, funds)
    purchase = _new_purchase(request, profile, agent, funds, wallet, quote, key, now_ms())
    session.add(purchase)
    try:
        session.commit()
    except IntegrityError as error:  # a concurrent purchase of the same identifier won
        session.rollback()
        raced = find_purchase(session, profile.name, request.blockchain_identifier)
        if raced is None:
            raise
        raise conflict(
            "this purchase exists already", raced.id, purchase_out(session, profile, raced)
        ) from error
    return purchase


def _check_contract(address: str | None, profile: NetworkProfile) -> None:
    if address is not None and address != profile.escrow.address:
        raise field_error("smartContractAddress", f"this node locks at {profile.escrow.address}")


def _confirmed_quote(
    session: Session, profile: NetworkProfile, request: PurchaseCreate, now: int
) -> PurchaseQuote | None:
    """The quote the buyer confirms: ours, unexpired, for exactly these terms."""
    if request.quote_id is None:
        return None
    quote = session.get(PurchaseQuote, request.quote_id)
    if quote is None or quote.network != profile.name:
        raise field_error("quoteId", "no such quote")
    if quote.expires_at <= now:
        raise field_error("quoteId", f"the quote expired at {quote.expires_at} (now {now})")
    for field, given, quoted in (
        ("blockchainIdentifier", request.blockchain_identifier, quote.blockchain_identifier),
        ("agentIdentifier", request.agent_identifier.lower(), quote.agent_identifier),
        ("identifierFromPurchaser", request.identifier_from_purchaser.lower(),
         quote.identifier_from_purchaser),
        ("sellerVkey", request.seller_vkey.lower(), quote.seller_vkey),
        ("inputHash", request.input_hash, quote.input_hash),
        ("payByTime", request.pay_by_time, quote.pay_by_time),
        ("submitResultTime", request.submit_result_time, quote.submit_result_time),
        ("unlockTime", request.unlock_time, quote.unlock_time),
        ("externalDisputeUnlockTime", request.external_dispute_unlock_time,
         quote.external_dispute_unlock_time),
    ):  # fmt: skip
        if given != quoted:
            raise field_error(field, "differs from the quote")
    if request.confirmed_amounts is None:
        raise field_error("confirmedAmounts", "are required to confirm a quote")
    return quote


def _as_funds(amounts: Sequence[Any]) -> Funds:
    return [{"amount": str(item.amount), "unit": item.unit} for item in amounts]


def _offered(request: PurchaseCreate, quote: PurchaseQuote | None) -> Funds | None:
    """The amounts the identifier asks for: the body's `Amounts`, else the quote's."""
    if request.amounts is not None:
        offered = _as_funds(request.amounts)
        if quote is not None and offers.funds_key(offered) != offers.funds_key(quote.amounts):
            raise field_error("Amounts", "differ from the quote")
        return offered if quote is None else [dict(item) for item in quote.amounts]
    return None if quote is None else [dict(item) for item in quote.amounts]


def _check_confirmed(request: PurchaseCreate, quote: PurchaseQuote | None, funds: Funds) -> None:
    """What the buyer confirmed is exactly what will be locked."""
    if request.confirmed_amounts is None:
        return
    confirmed = offers.funds_key(_as_funds(request.confirmed_amounts))
    if quote is not None and confirmed != offers.funds_key(quote.amounts):
        raise field_error("confirmedAmounts", "differ from the quote's amounts")
    if confirmed != offers.funds_key(funds):
        raise field_error("confirmedAmounts", "differ from the amounts to lock")


def _offer_of(request: PurchaseCreate, requested: Funds | None) -> Offer:
    return Offer(
        blockchain_identifier=request.blockchain_identifier,
        agent_identifier=request.agent_identifier.lower(),
        identifier_from_purchaser=request.identifier_from_purchaser,
        seller_vkey=request.seller_vkey,
        input_hash=request.input_hash,
        pay_by_time=request.pay_by_time,
        submit_result_time=request.submit_result_time,
        unlock_time=request.unlock_time,
        external_dispute_unlock_time=request.external_dispute_unlock_time,
        amounts=requested,
    )


def _purchasing_wallets(session: Session, network: str) -> list[HotWallet]:
    return list(
        session.exec(
            select(HotWallet)
            .where(HotWallet.network == network, HotWallet.type == HotWalletType.PURCHASING)
            .order_by(col(HotWallet.id))
        )
    )


def _purchasing_wallet(session: Session, network: str) -> HotWallet:
    """The oldest Purchasing wallet with room in its next batch (locks batch per wallet);
    when every wallet has a full batch waiting, the one with the fewest."""
    wallets = _purchasing_wallets(session, network)
    if not wallets:
        raise ApiError(409, "this node has no Purchasing wallet", code="no_purchasing_wallet")
    rows = session.exec(
        select(Purchase.purchasing_wallet_id, func.count())
        .where(Purchase.network == network)
        .where(Purchase.next_action == PurchaseAction.FUNDS_LOCKING_REQUESTED)
        .group_by(col(Purchase.purchasing_wallet_id))
    ).all()
    waiting = {wallet_id: int(count) for wallet_id, count in rows}
    for wallet in wallets:
        if waiting.get(wallet.id, 0) < BATCH_SIZE:
            return wallet
    return min(wallets, key=lambda wallet: waiting.get(wallet.id, 0))


def _credit_unit(unit: str) -> str:
    return "" if unit in ("", "lovelace") else unit


def _charge_credits(session: Session, key: ApiKey, funds: Funds) -> None:
    """A usage-limited key pays from its credits, in this transaction; never below zero."""
    if not key.usage_limited:
        return
    totals: Counter[str] = Counter()
    for item in funds:
        totals[_credit_unit(item["unit"])] += int(item["amount"])
    for unit, amount in sorted(totals.items()):
        statement = (
            update(ApiKeyCredit)
            .where(col(ApiKeyCredit.api_key_id) == key.id, col(ApiKeyCredit.unit) == unit)
            .where(col(ApiKeyCredit.amount) >= amount)
            .values(amount=col(ApiKeyCredit.amount) - amount)
        )
        if amount > MAX_AMOUNT or session.exec(statement).rowcount != 1:
            session.rollback()
            raise ApiError(
                400,
                f"Insufficient funds: the API key's usage credits do not cover {amount} of "
                f"unit {unit or 'lovelace'!r}",
                code="insufficient_credits",
            )


def _new_purchase(
    request: PurchaseCreate,
    profile: NetworkProfile,
    agent: ChainAgent,
    funds: Funds,
    wallet: HotWallet,
    quote: PurchaseQuote | None,
    key: ApiKey,
    now: int,
) -> Purchase:
    action = PurchaseAction.FUNDS_LOCKING_REQUESTED
    return Purchase(
        id=new_id(), network=profile.name, blockchain_identifier=request.blockchain_identifier,
        request_id=offers.request_id_of(request.blockchain_identifier),
        agent_identifier=agent.agent_identifier, pricing_mode=agent.mode.value,
        purchasing_wallet_id=wallet.id, seller_vkey=request.seller_vkey.lower(),
        seller_address=agent.holder,
        identifier_from_purchaser=request.identifier_from_purchaser.lower(), paid_funds=funds,
        pay_by_time=request.pay_by_time, submit_result_time=request.submit_result_time,
        unlock_time=request.unlock_time,
        external_dispute_unlock_time=request.external_dispute_unlock_time,
        input_hash=request.input_hash, quote_id=quote.id if quote else None,
        metadata_text=request.metadata, next_action=action,
        action_history=[history_entry(action, None, None, now)],
        requested_by=key.id, created_at=now, updated_at=now, next_action_changed_at=now,
    )  # fmt: skip


def history_entry(
    action: PurchaseAction, error_type: str | None, error_note: str | None, at: int
) -> dict[str, Any]:
    return {"action": str(action), "errorType": error_type, "errorNote": error_note, "at": at}


def find_purchase(session: Session, network: str, blockchain_identifier: str) -> Purchase | None:
    return session.exec(
        select(Purchase).where(
            Purchase.network == network, Purchase.blockchain_identifier == blockchain_identifier
        )
    ).first()


def get_purchase(session: Session, profile: NetworkProfile, ref: PurchaseRef) -> Purchase:
    check_network(ref.network, profile)
    purchase = find_purchase(session, profile.name, ref.blockchain_identifier)
    if purchase is None:
        raise not_found("purchase")
    return purchase


# the escrow as the mirror shows it ----------------------------------------------------------


def mirror_of(session: Session, purchase: Purchase) -> EscrowMirror | None:
    """The escrow our lock created (confirmed or rolled back), if the sync has seen it."""
    if purchase.lock_tx_hash is None:
        return None
    return session.exec(
        select(EscrowMirror).where(
            EscrowMirror.network == purchase.network,
            EscrowMirror.request_id == purchase.request_id,
            EscrowMirror.lock_tx_hash == purchase.lock_tx_hash,
        )
    ).first()


def on_chain_state(mirror: EscrowMirror | None) -> str | None:
    """Masumi's onChainState: the mirror's state, FundsOrDatumInvalid for a bad lock."""
    if mirror is None or mirror.status != RowStatus.CONFIRMED or mirror.state is None:
        return None
    if mirror.validity == Validity.FUNDS_OR_DATUM_INVALID:
        return INVALID_STATE
    return str(mirror.state)


# refunds ------------------------------------------------------------------------------------

REFUNDABLE = (OnChainState.FUNDS_LOCKED.value, OnChainState.RESULT_SUBMITTED.value)
CANCELLABLE = (OnChainState.REFUND_REQUESTED.value, OnChainState.DISPUTED.value)


def request_refund(session: Session, runtime: Runtime, ref: PurchaseRef) -> Purchase:
    """FundsLocked or ResultSubmitted, before the unlock time → SetRefundRequestedRequested."""
    purchase = get_purchase(session, runtime.network, ref)
    _require(session, purchase, REFUNDABLE, "request a refund")
    if runtime.clock() >= purchase.unlock_time:
        raise _invalid_state("the unlock time has passed: a refund can no longer be requested")
    return _queue(session, purchase, PurchaseAction.SET_REFUND_REQUESTED_REQUESTED)


def cancel_refund_request(session: Session, runtime: Runtime, ref: PurchaseRef) -> Purchase:
    """RefundRequested or Disputed → UnSetRefundRequestedRequested."""
    purchase = get_purchase(session, runtime.network, ref)
    _require(session, purchase, CANCELLABLE, "cancel a refund request")
    return _queue(session, purchase, PurchaseAction.UNSET_REFUND_REQUESTED_REQUESTED)


def _invalid_state(message: str) -> ApiError:
    return ApiError(409, message, code="invalid_state")


def _require(session: Session, purchase: Purchase, states: Sequence[str], what: str) -> None:
    state = on_chain_state(mirror_of(session, purchase))
    if state not in states:
        needed = " or ".join(states)
        raise _invalid_state(
            f"cannot {what}: the escrow is {state or 'not locked'}; needs {needed}"
        )
    if purchase.next_action != PurchaseAction.WAITING_FOR_EXTERNAL_ACTION or purchase.error_type:
        raise _invalid_state(f"cannot {what}: the purchase's next action is {purchase.next_action}")


def _queue(session: Session, purchase: Purchase, action: PurchaseAction) -> Purchase:
    """Move the next action if nobody moved it since it was read (optimistic)."""
    now = now_ms()
    statement = (
        update(Purchase)
        .where(col(Purchase.id) == purchase.id)
        .where(col(Purchase.next_action) == purchase.next_action)
        .where(col(Purchase.updated_at) == purchase.updated_at)
        .values(
            next_action=action,
            action_history=[*purchase.action_history, history_entry(action, None, None, now)],
            updated_at=max(now, purchase.updated_at + 1),
            next_action_changed_at=now,
        )
    )
    if session.exec(statement).rowcount != 1:
        session.rollback()
        raise _invalid_state("the purchase changed meanwhile; read it again")
    session.commit()
    session.refresh(purchase)
    return purchase


def recover(session: Session, runtime: Runtime, request: PurchaseErrorRecovery) -> Purchase:
    """Clear an error (optimistic on updatedAt); retry the failed action or wait for the chain."""
    purchase = get_purchase(session, runtime.network, request)
    if _ms_of(request.updated_at) != purchase.updated_at:
        raise _invalid_state("updatedAt: the purchase changed since; read it again")
    stuck = purchase.next_action == PurchaseAction.WAITING_FOR_MANUAL_ACTION
    if purchase.error_type is None and not stuck:
        raise _invalid_state("the purchase is in no error state")
    mirror = mirror_of(session, purchase)
    action = _recovered_action(purchase, mirror, request.retry_previous_action, runtime.clock())
    statement = (
        update(Purchase)
        .where(col(Purchase.id) == purchase.id)
        .where(col(Purchase.updated_at) == purchase.updated_at)
        .values(error_type=None, error_note=None, next_action=action)
    )
    if session.exec(statement).rowcount != 1:
        session.rollback()
        raise _invalid_state("updatedAt: the purchase changed since; read it again")
    session.commit()
    session.refresh(purchase)
    now = max(now_ms(), purchase.updated_at + 1)
    purchase.action_history = [*purchase.action_history, history_entry(action, None, None, now)]
    purchase.updated_at = purchase.next_action_changed_at = now
    session.add(purchase)
    session.commit()
    return purchase


def _recovered_action(
    purchase: Purchase, mirror: EscrowMirror | None, retry: bool, now: int
) -> PurchaseAction:
    state = on_chain_state(mirror)
    previous = purchase.previous_action
    if retry and previous is not None and str(previous).endswith("Requested"):
        if previous == PurchaseAction.FUNDS_LOCKING_REQUESTED and (
            state is not None or purchase.pay_by_time <= now
        ):
            raise _invalid_state("cannot lock again: already locked, or payByTime has passed")
        return previous
    if state is None:
        return PurchaseAction.NONE
    if state in {s.value for s in (OnChainState.WITHDRAWN, OnChainState.REFUND_WITHDRAWN,
                                   OnChainState.DISPUTED_WITHDRAWN)}:  # fmt: skip
        return PurchaseAction.NONE
    return PurchaseAction.WAITING_FOR_EXTERNAL_ACTION


def _ms_of(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise field_error("updatedAt", "must be ISO 8601 or POSIX milliseconds") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


# listing ------------------------------------------------------------------------------------


def _escrow_exists(*conditions: Any) -> Any:
    """The confirmed escrow our lock created for the purchase, meeting `conditions`."""
    return exists().where(
        col(EscrowMirror.network) == col(Purchase.network),
        col(EscrowMirror.request_id) == col(Purchase.request_id),
        col(EscrowMirror.lock_tx_hash) == col(Purchase.lock_tx_hash),
        col(EscrowMirror.status) == RowStatus.CONFIRMED,
        *conditions,
    )


def _state_is(state: str) -> Any:
    if state == INVALID_STATE:
        return _escrow_exists(col(EscrowMirror.validity) == Validity.FUNDS_OR_DATUM_INVALID)
    return _escrow_exists(
        col(EscrowMirror.validity) == Validity.VALID, col(EscrowMirror.state) == state
    )


def _matches(text: str) -> Any:
    """The search text inside an identifier, hash or state of the purchase or its escrow."""

    def has(column: Any) -> Any:
        return func.lower(column).contains(text, autoescape=True)

    own = [
        has(col(Purchase.id)), has(col(Purchase.blockchain_identifier)),
        has(col(Purchase.request_id)), has(col(Purchase.agent_identifier)),
        has(col(Purchase.identifier_from_purchaser)), has(col(Purchase.input_hash)),
        has(col(Purchase.intended_tx_hash)), has(col(Purchase.lock_tx_hash)),
        has(col(Purchase.seller_address)), has(col(Purchase.next_action)),
        has(col(Purchase.seen_state)),
    ]  # fmt: skip
    escrow = _escrow_exists(
        or_(has(cast(col(EscrowMirror.tx_hashes), Text)), has(col(EscrowMirror.state)))
    )
    return or_(*own, escrow)


def _filtered(query: Any, profile: NetworkProfile, filters: ListFilters) -> Any:
    query = query.where(Purchase.network == profile.name)
    if filters.on_chain_state is not None:
        query = query.where(_state_is(filters.on_chain_state))
    if filters.needs_manual_action:
        query = query.where(
            or_(
                col(Purchase.next_action) == PurchaseAction.WAITING_FOR_MANUAL_ACTION,
                col(Purchase.error_type).is_not(None),
            )
        )
    if filters.search:
        query = query.where(_matches(filters.search))
    if filters.other_source(profile.escrow.address):
        query = query.where(false())
    return query


def list_purchases(
    session: Session,
    profile: NetworkProfile,
    *,
    limit: int,
    cursor_id: str | None,
    filters: ListFilters,
) -> list[Purchase]:
    """Newest first, keyset on id; filtered on the mirror's state, manual action, search."""
    query = _filtered(select(Purchase), profile, filters)
    if cursor_id:
        query = query.where(col(Purchase.id) < cursor_id)
    return list(session.exec(query.order_by(col(Purchase.id).desc()).limit(limit)))


def count_purchases(session: Session, profile: NetworkProfile, filters: ListFilters) -> int:
    query = _filtered(select(func.count()).select_from(Purchase), profile, filters)
    return int(session.exec(query).one())


def diff_purchases(
    session: Session,
    profile: NetworkProfile,
    *,
    since: int,
    cursor_id: str | None,
    limit: int,
    kind: DiffKind = "any",
) -> list[Purchase]:
    """Purchases changed at or after `since`, oldest change first: any change (next action,
    error, on-chain state), the next action only, or the escrow on chain only (the mirror's
    write time: a rollback is a change too)."""
    query = select(Purchase).where(Purchase.network == profile.name)
    changed = {
        "any": col(Purchase.updated_at),
        "next_action": col(Purchase.next_action_changed_at),
        "on_chain": _escrow_changed_at(),
    }[kind]
    query = changed_since(query, changed, col(Purchase.id), since, cursor_id)
    return list(session.exec(query.limit(limit)))


def _escrow_changed_at() -> Any:
    return (
        select(func.max(EscrowMirror.updated_at))
        .where(
            col(EscrowMirror.network) == col(Purchase.network),
            col(EscrowMirror.request_id) == col(Purchase.request_id),
            col(EscrowMirror.lock_tx_hash) == col(Purchase.lock_tx_hash),
        )
        .scalar_subquery()
    )


# the answer ---------------------------------------------------------------------------------


def _funds_out(amounts: Mapping[str, int]) -> list[PurchaseAmount]:
    return [
        PurchaseAmount(amount=str(quantity), unit="" if unit == "lovelace" else unit)
        for unit, quantity in sorted(amounts.items())
    ]


def _current_transaction(
    session: Session, purchase: Purchase, mirror: EscrowMirror | None
) -> PurchaseTransaction | None:
    tx_hash = purchase.intended_tx_hash
    if tx_hash is None:
        return None
    if mirror is not None and mirror.status == RowStatus.CONFIRMED and tx_hash in mirror.tx_hashes:
        return PurchaseTransaction(tx_hash=tx_hash, status="Confirmed")
    journal = session.exec(
        select(WalletTransaction).where(WalletTransaction.tx_hash == tx_hash)
    ).first()
    return PurchaseTransaction(
        tx_hash=tx_hash,
        kind=journal.kind if journal else None,
        status=str(journal.status) if journal else "Pending",
    )


def _history(session: Session, mirror: EscrowMirror | None) -> list[PurchaseTransaction]:
    if mirror is None:
        return []
    events = session.exec(
        select(EscrowEvent)
        .where(EscrowEvent.escrow_id == mirror.id)
        .order_by(col(EscrowEvent.position))
    ).all()
    return [
        PurchaseTransaction(
            tx_hash=event.tx_hash,
            kind=str(event.kind),
            status=str(event.status),
            block_height=event.block_height,
            block_time=event.block_time_ms,
            new_on_chain_state=str(event.after.get("state") or "") or None,
        )
        for event in events
    ]


def _actions(purchase: Purchase) -> list[PurchaseActionOut]:
    return [
        PurchaseActionOut(
            requested_action=str(entry.get("action")),
            error_type=entry.get("errorType"),
            error_note=entry.get("errorNote"),
            at=int(entry.get("at", 0)),
        )
        for entry in purchase.action_history
    ]


def purchase_out(
    session: Session, profile: NetworkProfile, purchase: Purchase, include_history: bool = False
) -> PurchaseOut:
    mirror = mirror_of(session, purchase)
    live = mirror if mirror is not None and mirror.status == RowStatus.CONFIRMED else None
    wallet = session.get(HotWallet, purchase.purchasing_wallet_id)
    return PurchaseOut(
        id=purchase.id,
        created_at=iso_from_ms(purchase.created_at),
        updated_at=iso_from_ms(purchase.updated_at),
        blockchain_identifier=purchase.blockchain_identifier,
        request_id=purchase.request_id,
        agent_identifier=purchase.agent_identifier,
        pricing_type=purchase.pricing_mode,
        pay_by_time=purchase.pay_by_time,
        submit_result_time=purchase.submit_result_time,
        unlock_time=purchase.unlock_time,
        external_dispute_unlock_time=purchase.external_dispute_unlock_time,
        collateral_return_lovelace=str(live.collateral_return) if live else None,
        requested_by_id=purchase.requested_by,
        input_hash=purchase.input_hash,
        result_hash=(live.result_hash or None) if live else None,
        identifier_from_purchaser=purchase.identifier_from_purchaser,
        on_chain_state=on_chain_state(mirror),
        invalid_reason=live.invalid_reason if live else None,
        cooldown_time=live.buyer_cooldown_time if live else 0,
        cooldown_time_other_party=live.seller_cooldown_time if live else 0,
        buyer_tx_fees_lovelace=str(live.buyer_tx_fees if live else 0),
        next_action=PurchaseNextAction(
            requested_action=str(purchase.next_action),
            error_type=str(purchase.error_type) if purchase.error_type else None,
            error_note=purchase.error_note,
        ),
        current_transaction=_current_transaction(session, purchase, mirror),
        transaction_history=_history(session, live) if include_history else None,
        action_history=_actions(purchase) if include_history else None,
        paid_funds=[
            PurchaseAmount(amount=a["amount"], unit=a["unit"]) for a in purchase.paid_funds
        ],
        withdrawn_for_seller=_funds_out(live.withdrawn_seller) if live else [],
        withdrawn_for_buyer=_funds_out(live.withdrawn_buyer) if live else [],
        payment_source=PurchasePaymentSource(
            network=profile.display_name,
            smart_contract_address=profile.escrow.address,
            policy_id=profile.registry.policy_id,
        ),
        seller_wallet=PurchaseWallet(
            wallet_vkey=purchase.seller_vkey, wallet_address=purchase.seller_address
        ),
        smart_contract_wallet=PurchaseWallet(
            wallet_vkey=wallet.payment_key_hash if wallet else "",
            wallet_address=wallet.address if wallet else "",
        ),
        quote_id=purchase.quote_id,
        metadata=purchase.metadata_text,
    )


def event_data(session: Session, profile: NetworkProfile, purchase: Purchase) -> dict[str, Any]:
    """The purchase object as a webhook's `data`."""
    return purchase_out(session, profile, purchase).model_dump(mode="json", by_alias=True)


def set_error(
    purchase: Purchase,
    error_type: PurchaseErrorType,
    note: str,
    now: int,
    previous: PurchaseAction | None = None,
) -> None:
    """→ WaitingForManualAction with the error; `previous` is what a retry would request."""
    action = PurchaseAction.WAITING_FOR_MANUAL_ACTION
    purchase.previous_action = previous or purchase.previous_action
    purchase.next_action = action
    purchase.next_action_changed_at = now
    purchase.error_type = error_type
    purchase.error_note = note[:1000]
    purchase.action_history = [
        *purchase.action_history,
        history_entry(action, str(error_type), note[:1000], now),
    ]
    purchase.updated_at = max(now, purchase.updated_at + 1)
