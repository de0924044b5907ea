"""Pricing routes: each seed's document in its own shape (read to see, admin to change), and the
public lookup and quote (no key: a buyer prices a job before it has anything to do with us)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from node.auth.api import AdminKey, ReadKey
from node.pricing import service
from node.pricing.agentic import AgenticPricing
from node.pricing.assmbl import BillingPricingPayload
from node.pricing.schemas import AgentPath, AgentQuery, PublicPricing, QuoteOut, QuoteRequest
from node.pricing.seren import PricingConfigResponse, UpdatePricingRequest
from node.runtime import RuntimeDep, SessionDep
from node.web import Success, field_error, success

router = APIRouter(tags=["pricing"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No pricing stored for this agent"}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The pricing was set in a shape that cannot say all of it"}
}


async def raw_body(request: Request) -> str:
    """The body as sent: stored as is, and its numbers read as Decimals (FastAPI's parse of the
    same body, with floats, only validates it)."""
    try:
        return (await request.body()).decode()
    except UnicodeDecodeError as error:
        raise field_error("body", "must be UTF-8 JSON") from error


RawBody = Annotated[str, Depends(raw_body)]


def document_response(text: str) -> Response:
    """The envelope around a stored JSON document, digit for digit (no float round trip)."""
    body = '{"status":"success","data":' + text + "}"
    return Response(content=body, media_type="application/json")


@router.get(
    "/billing/pricing",
    summary="An agent's pricing as Assmbl's BillingPricingPayload (get_billing_pricing)",
    response_model=Success[BillingPricingPayload],
    responses={**_NOT_FOUND, **_CONFLICT},
)
def get_billing_pricing(
    _caller: ReadKey, runtime: RuntimeDep, session: SessionDep, agent: AgentQuery
) -> Response:
    record = service.get_record(session, runtime.known_network, agent)
    return document_response(service.document_as(record, service.ASSMBL))


@router.put(
    "/billing/pricing",
    summary="Set an agent's pricing from Assmbl's BillingPricingPayload (put_billing_pricing)",
    response_model=Success[BillingPricingPayload],
)
def put_billing_pricing(
    _caller: AdminKey,
    runtime: RuntimeDep,
    session: SessionDep,
    agent: AgentQuery,
    _payload: BillingPricingPayload,
    raw: RawBody,
) -> Response:
    record = service.put_assmbl(session, runtime.known_network, agent, raw)
    return document_response(record.document)


@router.get(
    "/agents/{agentIdentifier}/pricing-config",
    summary="An agent's pricing as SerenAI's PricingConfigResponse",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def get_pricing_config(
    _caller: ReadKey, runtime: RuntimeDep, session: SessionDep, agent: AgentPath
) -> Success[PricingConfigResponse]:
    record = service.get_record(session, runtime.known_network, agent)
    return success(service.seren_config(record))


@router.put(
    "/agents/{agentIdentifier}/pricing-config",
    summary="Update an agent's pricing with SerenAI's UpdatePricingRequest (omitted fields stay)",
)
def put_pricing_config(
    _caller: AdminKey,
    runtime: RuntimeDep,
    session: SessionDep,
    agent: AgentPath,
    request: UpdatePricingRequest,
) -> Success[PricingConfigResponse]:
    record = service.put_seren(session, runtime.known_network, agent, request)
    return success(service.seren_config(record))


@router.get(
    "/agents/{agentIdentifier}/pricing-plans",
    summary="An agent's pricing as Agentic pricingPlans",
    response_model=Success[AgenticPricing],
    responses={**_NOT_FOUND, **_CONFLICT},
)
def get_pricing_plans(
    _caller: ReadKey, runtime: RuntimeDep, session: SessionDep, agent: AgentPath
) -> Response:
    record = service.get_record(session, runtime.known_network, agent)
    return document_response(service.document_as(record, service.AGENTIC))


@router.put(
    "/agents/{agentIdentifier}/pricing-plans",
    summary="Set an agent's pricing from Agentic pricingPlans (amounts in cents of USD)",
    response_model=Success[AgenticPricing],
)
def put_pricing_plans(
    _caller: AdminKey,
    runtime: RuntimeDep,
    session: SessionDep,
    agent: AgentPath,
    _payload: AgenticPricing,
    raw: RawBody,
) -> Response:
    record = service.put_agentic(session, runtime.known_network, agent, raw)
    return document_response(record.document)


@router.get(
    "/public/pricing/{agentIdentifier}",
    summary="Public, no key: an agent's plan, listing and a readable line per item",
    responses=_NOT_FOUND,
)
def lookup_public_pricing(
    runtime: RuntimeDep, session: SessionDep, agent: AgentPath
) -> Success[PublicPricing]:
    return success(service.public_pricing(session, runtime.known_network, agent))


@router.post(
    "/public/pricing/{agentIdentifier}/quote",
    summary="Public, no key: price a usage estimate for a named buyer (429 over its limits)",
    responses={**_NOT_FOUND, 429: {"description": "Over the buyer's limit; see Retry-After"}},
)
def quote_pricing(
    runtime: RuntimeDep, session: SessionDep, agent: AgentPath, request: QuoteRequest
) -> Success[QuoteOut]:
    quote = service.quote_for_buyer(
        session, runtime.known_network, agent, request, now=runtime.now()
    )
    return success(quote)
