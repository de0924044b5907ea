"""Buyer routes under /api/v1: quotes from an agent's /start_job, and Masumi's /purchase family."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from node.auth.api import PayKey, ReadKey
from node.auth.schemas import NetworkDisplayName
from node.purchases import service
from node.purchases.schemas import (
    PurchaseCreate,
    PurchaseErrorRecovery,
    PurchaseList,
    PurchaseOut,
    PurchaseQuoteCreate,
    PurchaseQuoteOut,
    PurchaseRef,
    PurchaseResolve,
)
from node.runtime import Runtime, RuntimeDep, SessionDep
from node.web import (
    DEFAULT_PAGE_SIZE,
    DIFF_FEEDS,
    DIFF_PAGING,
    MAX_PAGE_SIZE,
    CountOut,
    DiffKind,
    DiffQuery,
    DiffQueryDep,
    ListFilters,
    SourceFilters,
    Success,
    success,
)

router = APIRouter(tags=["purchases"])

OnChainStateFilter = Literal[
    "FundsLocked",
    "FundsOrDatumInvalid",
    "ResultSubmitted",
    "RefundRequested",
    "Disputed",
    "Withdrawn",
    "RefundWithdrawn",
    "DisputedWithdrawn",
]


@router.post(
    "/quotes",
    summary="Ask an agent for a job (its /start_job), verify the offer against the chain; "
    "nothing is locked",
)
def create_quote(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: PurchaseQuoteCreate
) -> Success[PurchaseQuoteOut]:
    return success(service.quote_out(service.create_quote(session, runtime, caller.key, request)))


@router.post(
    "/purchase",
    summary="Buy a job: verify the seller's identifier and the amounts confirmed, then lock "
    "(FundsLockingRequested)",
)
def create_purchase(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: PurchaseCreate
) -> Success[PurchaseOut]:
    purchase = service.create_purchase(session, runtime, caller.key, request)
    return success(service.purchase_out(session, runtime.network, purchase))


def list_filters(
    filter_on_chain_state: Annotated[
        OnChainStateFilter | None, Query(alias="filterOnChainState")
    ] = None,
    filter_needs_manual_action: Annotated[bool, Query(alias="filterNeedsManualAction")] = False,
    search_query: Annotated[
        str | None, Query(alias="searchQuery", min_length=1, max_length=250)
    ] = None,
    source: SourceFilters = None,
) -> ListFilters:
    """The filters GET /purchase and /purchase/count share."""
    search = search_query.strip().lower() if search_query else None
    return ListFilters(filter_on_chain_state, filter_needs_manual_action, search or None, source)


Filters = Annotated[ListFilters, Depends(list_filters)]


@router.get("/purchase", summary="This node's purchases, newest first")
def list_purchases(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    network: NetworkDisplayName,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor_id: Annotated[str | None, Query(alias="cursorId", max_length=32)] = None,
    include_history: Annotated[bool, Query(alias="includeHistory")] = False,
) -> Success[PurchaseList]:
    profile = runtime.network
    service.check_network(network, profile)
    rows = service.list_purchases(
        session, profile, limit=limit, cursor_id=cursor_id, filters=filters
    )
    items = [service.purchase_out(session, profile, row, include_history) for row in rows]
    next_cursor = rows[-1].id if len(rows) == limit else None
    return success(PurchaseList(purchases=items, next_cursor_id=next_cursor))


@router.get("/purchase/count", summary="How many purchases match GET /purchase's filters")
def count_purchases(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    network: NetworkDisplayName,
    filters: Filters,
) -> Success[CountOut]:
    service.check_network(network, runtime.network)
    return success(CountOut(total=service.count_purchases(session, runtime.network, filters)))


def _diff_endpoint(kind: DiffKind) -> Callable[..., Success[PurchaseList]]:
    def endpoint(
        _caller: ReadKey,
        runtime: RuntimeDep,
        session: SessionDep,
        network: NetworkDisplayName,
        query: DiffQueryDep,
    ) -> Success[PurchaseList]:
        return _diff(runtime, session, network, query, kind)

    return endpoint


for suffix, kind, what in DIFF_FEEDS:
    router.add_api_route(
        f"/purchase/diff{suffix}",
        _diff_endpoint(kind),
        methods=["GET"],
        name=f"diff_purchases_{kind}",
        summary=f"Purchases {what} since lastUpdate, oldest change first; {DIFF_PAGING}",
    )


def _diff(
    runtime: Runtime, session: Session, network: str, query: DiffQuery, kind: DiffKind
) -> Success[PurchaseList]:
    profile = runtime.network
    service.check_network(network, profile)
    rows = service.diff_purchases(
        session, profile, since=query.since, cursor_id=query.cursor_id, limit=query.limit,
        kind=kind,
    )  # fmt: skip
    items = [service.purchase_out(session, profile, row, query.include_history) for row in rows]
    next_cursor = rows[-1].id if len(rows) == query.limit else None
    return success(PurchaseList(purchases=items, next_cursor_id=next_cursor))


@router.post("/purchase/resolve-blockchain-identifier", summary="One purchase by its identifier")
def resolve_purchase(
    _caller: ReadKey, runtime: RuntimeDep, session: SessionDep, request: PurchaseResolve
) -> Success[PurchaseOut]:
    purchase = service.get_purchase(session, runtime.network, request)
    return success(
        service.purchase_out(session, runtime.network, purchase, request.include_history)
    )


@router.post(
    "/purchase/request-refund",
    summary="Ask for the funds back (FundsLocked or ResultSubmitted): SetRefundRequested",
)
def request_refund(
    _caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: PurchaseRef
) -> Success[PurchaseOut]:
    purchase = service.request_refund(session, runtime, request)
    return success(service.purchase_out(session, runtime.network, purchase))


@router.post(
    "/purchase/cancel-refund-request",
    summary="Withdraw a refund request (RefundRequested or Disputed): UnSetRefundRequested",
)
def cancel_refund_request(
    _caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: PurchaseRef
) -> Success[PurchaseOut]:
    purchase = service.cancel_refund_request(session, runtime, request)
    return success(service.purchase_out(session, runtime.network, purchase))


@router.post(
    "/purchase/error-state-recovery",
    summary="Clear a purchase's error (optimistic on updatedAt); optionally retry its action",
)
def error_state_recovery(
    _caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: PurchaseErrorRecovery
) -> Success[PurchaseOut]:
    purchase = service.recover(session, runtime, request)
    return success(service.purchase_out(session, runtime.network, purchase))
