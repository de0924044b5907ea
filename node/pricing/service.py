"""Pricing plans per agent in each seed's shape, the public lookup, quotes with per-buyer limits,
and settlements (what free quotas count)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from node.clock import now_ms
from node.config import NetworkProfile
from node.ids import new_id
from node.pricing import engine
from node.pricing.agentic import AgenticPricing, from_agentic, to_agentic
from node.pricing.assmbl import BillingPricingPayload, from_assmbl, to_assmbl
from node.pricing.display import describe
from node.pricing.engine import Charge, PricingError, Usage
from node.pricing.mapping import NotRepresentable, json_text, parse_json
from node.pricing.models import (
    PricingPlanRecord,
    PricingQuote,
    PricingRateWindow,
    PricingSettlement,
)
from node.pricing.plan import PricingPlan, RateLimit
from node.pricing.schemas import (
    DisplayLine,
    PublicPricing,
    QuoteAmount,
    QuoteLine,
    QuoteOut,
    QuoteRequest,
)
from node.pricing.seren import (
    PricingConfigResponse,
    UpdatePricingRequest,
    from_seren,
    merge_update,
    to_seren,
)
from node.web import ApiError, field_error, not_found

ASSMBL, SEREN, AGENTIC = "assmbl", "seren", "agentic"
DEFAULT_QUOTE_TTL_MS = 10 * 60_000
MAX_DOCUMENT_CHARS = 256_000
LOVELACE_NAMES = ("", "lovelace", "ada")
_PLAN_CACHE: dict[str, PricingPlan] = {}
_PLAN_CACHE_SIZE = 256


# --- the network's units -------------------------------------------------------------------


def resolve_unit(profile: NetworkProfile, unit: str, field: str) -> tuple[str, int]:
    """The unit a plan's prices are in, as this network knows it, and its decimals.

    The stablecoin by its name (USDM, also on networks that call theirs tUSDM), by "USD" (a USD
    price is a USDM price) or by its asset id; ADA as lovelace. Anything else is refused."""
    coin = profile.stablecoin
    names = {coin.name.lower(), "usdm", "usd"}
    if unit.lower() in LOVELACE_NAMES:
        return "lovelace", 6
    if unit.lower() in names or (coin.unit is not None and unit == coin.unit):
        return coin.unit or coin.name, coin.decimals
    known = f"{coin.name} or ADA"
    raise field_error(field, f"{unit!r} is not a unit of {profile.display_name}: use {known}")


def currency_name(profile: NetworkProfile, unit: str) -> str:
    return "ADA" if unit == "lovelace" else profile.stablecoin.name


def bind_to_network(plan: PricingPlan, profile: NetworkProfile, field: str) -> PricingPlan:
    unit, decimals = resolve_unit(profile, plan.unit, field)
    return plan.model_copy(update={"unit": unit, "decimals": decimals})


# --- storing and reading a seller's document -------------------------------------------------


def _validated(model: type[BaseModel], raw: str) -> BaseModel:
    """The seed's model from the raw body, its numbers read as Decimals (never floats)."""
    if len(raw) > MAX_DOCUMENT_CHARS:
        raise field_error("body", f"is longer than {MAX_DOCUMENT_CHARS} characters")
    try:
        return model.model_validate(parse_json(raw))
    except ValueError as error:  # ValidationError is a ValueError; so is bad JSON
        raise _invalid(error) from error


def _invalid(error: ValueError) -> ApiError:
    if not isinstance(error, ValidationError):
        return field_error("body", f"is not valid JSON: {error}")
    problems = [
        (".".join(str(part) for part in item["loc"]) or "body", item["msg"])
        for item in error.errors()
    ]
    message = "; ".join(
        f"{field}: {text.removeprefix('Value error, ')}" for field, text in problems
    )
    fields = list(dict.fromkeys(field for field, _ in problems))
    return ApiError(422, message, code="validation_error", fields=fields)


def _plan_of(mapper: Any, document: BaseModel) -> PricingPlan:
    try:
        plan: PricingPlan = mapper(document)
    except ValueError as error:
        raise _invalid(error) from error
    return plan


def put_assmbl(
    session: Session, profile: NetworkProfile, agent: str, raw: str
) -> PricingPlanRecord:
    document = _validated(BillingPricingPayload, raw)
    plan = bind_to_network(_plan_of(from_assmbl, document), profile, "currency")
    return _store(session, profile, agent, ASSMBL, raw, plan)


def put_agentic(
    session: Session, profile: NetworkProfile, agent: str, raw: str
) -> PricingPlanRecord:
    document = _validated(AgenticPricing, raw)
    plan = bind_to_network(_plan_of(from_agentic, document), profile, "pricingPlans")
    return _store(session, profile, agent, AGENTIC, raw, plan)


def put_seren(
    session: Session, profile: NetworkProfile, agent: str, request: UpdatePricingRequest
) -> PricingPlanRecord:
    """An update: the fields it sends change (null clears one), the others stay."""
    current = _find(session, profile, agent)
    previous = json.loads(current.document) if current and current.shape == SEREN else None
    merged = merge_update(previous, request.model_dump(exclude_unset=True))
    document = UpdatePricingRequest.model_validate(merged)
    plan = bind_to_network(_plan_of(from_seren, document), profile, "asset_symbol")
    return _store(session, profile, agent, SEREN, json.dumps(merged), plan)


def _find(session: Session, profile: NetworkProfile, agent: str) -> PricingPlanRecord | None:
    query = select(PricingPlanRecord).where(
        PricingPlanRecord.network == profile.name, PricingPlanRecord.agent_identifier == agent
    )
    return session.exec(query).first()


def get_record(session: Session, profile: NetworkProfile, agent: str) -> PricingPlanRecord:
    record = _find(session, profile, agent)
    if record is None:
        raise not_found("pricing for this agent")
    return record


def _store(
    session: Session,
    profile: NetworkProfile,
    agent: str,
    shape: str,
    document: str,
    plan: PricingPlan,
) -> PricingPlanRecord:
    now = now_ms()
    record = _find(session, profile, agent)
    if record is None:
        record = PricingPlanRecord(
            id=new_id(), network=profile.name, agent_identifier=agent, created_at=now,
            shape=shape, document=document, plan="", updated_at=now,
        )  # fmt: skip
    record.shape, record.document, record.updated_at = shape, document, now
    record.plan = plan.model_dump_json()
    session.add(record)
    try:
        session.commit()
    except IntegrityError:  # another replica stored this agent's first plan meanwhile: replace it
        session.rollback()
        return _store(session, profile, agent, shape, document, plan)
    return record


def load_plan(record: PricingPlanRecord) -> PricingPlan:
    """The stored canonical plan, parsed once per content (the engine caches its fast form)."""
    plan = _PLAN_CACHE.get(record.plan)
    if plan is None:
        plan = PricingPlan.model_validate_json(record.plan)
        if len(_PLAN_CACHE) >= _PLAN_CACHE_SIZE:
            _PLAN_CACHE.clear()
        _PLAN_CACHE[record.plan] = plan
    return plan


def document_as(record: PricingPlanRecord, shape: str) -> str:
    """The pricing as JSON text in `shape`: the document as PUT when it was PUT in that shape,
    else the canonical plan mapped back (409 if that shape cannot say all of it)."""
    if record.shape == shape and shape != SEREN:
        return record.document
    plan = load_plan(record)
    try:
        if shape == ASSMBL:
            return json_text(to_assmbl(plan))
        if shape == AGENTIC:
            return json_text(to_agentic(plan))
        return to_seren(plan).model_dump_json()
    except NotRepresentable as error:
        raise ApiError(
            409,
            f"this agent's pricing was set in the {record.shape} shape; {error}",
            code="not_representable",
            fields=[error.field],
        ) from error


def seren_config(record: PricingPlanRecord) -> PricingConfigResponse:
    return PricingConfigResponse.model_validate_json(document_as(record, SEREN))


# --- public lookup -------------------------------------------------------------------------


def public_pricing(session: Session, profile: NetworkProfile, agent: str) -> PublicPricing:
    record = get_record(session, profile, agent)
    plan = load_plan(record)
    currency = currency_name(profile, plan.unit)
    display = [
        DisplayLine(slug=item.slug, label=item.label or item.slug, text=describe(item, currency))
        for item in plan.line_items
    ]
    for subscription in plan.subscriptions:
        display.extend(
            DisplayLine(
                slug=f"{subscription.slug}/{item.slug}",
                label=f"{subscription.name}: {item.label or item.slug}",
                text=describe(item, currency, subscription.interval),
            )
            for item in subscription.line_items
        )
    return PublicPricing(
        agent_identifier=agent,
        shape=record.shape,
        currency=currency,
        plan=plan,
        listing=plan.listing,
        display=display,
        updated_at=record.updated_at,
    )


# --- quotes --------------------------------------------------------------------------------


def _priced(call: Any) -> Charge:
    try:
        charge: Charge = call()
    except PricingError as error:
        raise field_error(error.field, error.message) from error
    return charge


def _in_trial(plan: PricingPlan, option: str | None, prior_billable_requests: int) -> bool:
    """A buyer with no settled request yet is in the trial of a plan that has one."""
    chosen = next((s for s in plan.subscriptions if s.slug == option), None)
    return bool(chosen and chosen.trial_days) and prior_billable_requests == 0


def _chosen_option(plan: PricingPlan, option: str | None) -> str | None:
    try:
        return engine.choose_option(plan, option)
    except PricingError as error:
        raise field_error(error.field, error.message) from error


def quote_for_buyer(
    session: Session,
    profile: NetworkProfile,
    agent: str,
    request: QuoteRequest,
    *,
    now: int | None = None,
) -> QuoteOut:
    """A priced, recorded quote; `now` is the chain's time (a quote's expiry is compared with
    it by the buyer node), the wall clock when not given."""
    plan = load_plan(get_record(session, profile, agent))
    if not plan.enabled:
        raise ApiError(409, "this agent does not accept paid requests now", code="pricing_disabled")
    option = _chosen_option(plan, request.option)
    prior = count_settled(session, profile, agent, request.buyer)
    in_trial = _in_trial(plan, option, prior)
    charge = _priced(
        lambda: engine.quote(
            plan, request.usage, prior_billable_requests=prior, option=option, in_trial=in_trial
        )
    )
    now = now_ms() if now is None else now
    _enforce_limits(session, profile, agent, request.buyer, _limits(plan, option), now)
    row = _record_quote(session, profile, agent, request, charge, plan, now)
    return quote_out(row, charge, prior)


def _limits(plan: PricingPlan, option: str | None) -> list[tuple[str, int, int]]:
    """(scope, limit, window ms) a buyer's quotes are held to."""
    limits = []
    if plan.limits.max_queries_per_minute is not None:
        limits.append(("minute", plan.limits.max_queries_per_minute, 60_000))
    rate: RateLimit | None = plan.limits.rate_limit
    for subscription in plan.subscriptions:
        if subscription.slug == option and subscription.rate_limit is not None:
            rate = subscription.rate_limit
    if rate is not None and rate.enabled:
        limits.append(("plan", rate.limit, rate.interval_s * 1000))
    return limits


def _enforce_limits(
    session: Session,
    profile: NetworkProfile,
    agent: str,
    buyer: str,
    limits: list[tuple[str, int, int]],
    now: int,
) -> None:
    for scope, limit, window_ms in limits:
        window_start = now - now % window_ms
        if not _take_slot(session, (profile.name, agent, buyer, scope), limit, window_start):
            retry_after = max(1, math.ceil((window_start + window_ms - now) / 1000))
            raise ApiError(
                429,
                f"rate limit: {limit} quotes per {window_ms // 1000} s for this buyer",
                code="rate_limited",
                headers={"Retry-After": str(retry_after)},
            )


def _take_slot(
    session: Session, key: tuple[str, str, str, str], limit: int, window_start: int
) -> bool:
    """Count one quote in the buyer's window if it is under `limit`: a conditional UPDATE, or
    the window's first row. Atomic on SQLite and PostgreSQL, across replicas."""
    if limit <= 0:
        return False
    network, agent, buyer, scope = key
    same_window = (
        col(PricingRateWindow.network) == network,
        col(PricingRateWindow.agent_identifier) == agent,
        col(PricingRateWindow.buyer) == buyer,
        col(PricingRateWindow.scope) == scope,
    )
    current = (*same_window, col(PricingRateWindow.window_start) == window_start)
    for _attempt in range(3):
        counted = session.connection().execute(
            update(PricingRateWindow)
            .where(*current, col(PricingRateWindow.count) < limit)
            .values(count=col(PricingRateWindow.count) + 1)
        )
        if counted.rowcount == 1:
            session.commit()
            return True
        if session.exec(select(PricingRateWindow.id).where(*current)).first() is not None:
            session.rollback()
            return False
        stale = delete(PricingRateWindow).where(
            *same_window, col(PricingRateWindow.window_start) < window_start
        )
        session.connection().execute(stale)
        session.add(
            PricingRateWindow(
                network=network, agent_identifier=agent, buyer=buyer, scope=scope,
                window_start=window_start, count=1,
            )
        )  # fmt: skip
        try:
            session.commit()
            return True
        except IntegrityError:  # another replica opened the window first: count on its row
            session.rollback()
    return False


def _lines(charge: Charge) -> list[QuoteLine]:
    return [
        QuoteLine(
            slug=line.slug,
            metric=line.metric,
            quantity=str(line.quantity),
            billed_quantity=str(line.billed_quantity),
            amount=str(line.amount),
        )
        for line in charge.lines
    ]


def _record_quote(
    session: Session,
    profile: NetworkProfile,
    agent: str,
    request: QuoteRequest,
    charge: Charge,
    plan: PricingPlan,
    now: int,
) -> PricingQuote:
    breakdown = [line.model_dump(by_alias=True) for line in _lines(charge)]
    row = PricingQuote(
        id=new_id(),
        network=profile.name,
        agent_identifier=agent,
        buyer=request.buyer,
        option=charge.option,
        unit=charge.unit,
        amount=charge.amount,
        reserve=charge.reserve,
        usage=json.dumps(request.usage),
        breakdown=json.dumps(breakdown),
        created_at=now,
        expires_at=now + (plan.quote_ttl_ms or DEFAULT_QUOTE_TTL_MS),
    )
    session.add(row)
    session.commit()
    return row


def quote_out(row: PricingQuote, charge: Charge, prior_billable_requests: int) -> QuoteOut:
    return QuoteOut(
        id=row.id,
        agent_identifier=row.agent_identifier,
        buyer=row.buyer,
        option=row.option,
        unit=row.unit,
        amount=row.amount,
        reserve=row.reserve,
        amounts=[QuoteAmount(unit=unit, amount=amount) for unit, amount in charge.amounts],
        breakdown=_lines(charge),
        subtotal=str(charge.subtotal),
        total=str(charge.total),
        free=charge.free,
        minimum_applied=charge.minimum_applied,
        capped=charge.capped,
        in_trial=charge.in_trial,
        prior_billable_requests=prior_billable_requests,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


# --- settlement: what free quotas count (billing rows take this over in a later issue) -------


def count_settled(session: Session, profile: NetworkProfile, agent: str, buyer: str) -> int:
    """The buyer's settled billable requests with this agent."""
    query = (
        select(func.count())
        .select_from(PricingSettlement)
        .where(
            PricingSettlement.network == profile.name,
            PricingSettlement.agent_identifier == agent,
            PricingSettlement.buyer == buyer,
        )
    )
    return int(session.exec(query).one())


def settle_request(
    session: Session,
    profile: NetworkProfile,
    agent: str,
    *,
    buyer: str,
    request_id: str,
    usage: Mapping[str, Any] | None,
    reserved: int,
    option: str | None = None,
) -> PricingSettlement:
    """Settle one request by the same engine as its quote, capped at `reserved`, and count it for
    the buyer's free quota. Idempotent on `request_id`: a retry returns the first settlement."""
    existing = _settlement(session, request_id)
    if existing is not None:
        return existing
    plan = load_plan(get_record(session, profile, agent))
    chosen = _chosen_option(plan, option)
    prior = count_settled(session, profile, agent, buyer)
    charge = _priced(
        lambda: engine.settle(
            plan,
            _usage(usage),
            reserved=reserved,
            prior_billable_requests=prior,
            option=chosen,
            in_trial=_in_trial(plan, chosen, prior),
        )
    )
    row = PricingSettlement(
        id=new_id(), network=profile.name, agent_identifier=agent, buyer=buyer,
        request_id=request_id, unit=charge.unit, reserved=reserved, charged=charge.amount,
        fallback=charge.fallback, usage=_usage_text(usage), created_at=now_ms(),
    )  # fmt: skip
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same request settled concurrently: the first answer stands
        session.rollback()
        raced = _settlement(session, request_id)
        if raced is None:
            raise
        return raced
    return row


def _usage_text(usage: Mapping[str, Any] | None) -> str | None:
    return None if usage is None else json.dumps(dict(usage), default=str)


def _usage(usage: Mapping[str, Any] | None) -> Usage | None:
    return None if usage is None else dict(usage)


def _settlement(session: Session, request_id: str) -> PricingSettlement | None:
    query = select(PricingSettlement).where(PricingSettlement.request_id == request_id)
    return session.exec(query).first()
