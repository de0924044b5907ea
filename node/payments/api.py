"""Seller-side routes under /api/v1 (masumi-protocol.md §9.3): payment requests, their reads, and
the actions the seller asks for; admin dispute resolution."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from node.auth.api import AdminKey, PayKey, ReadKey
from node.auth.schemas import NetworkDisplayName
from node.payments import checks as _checks  # noqa: F401  (registers the lock check)
from node.payments import disputes, service
from node.payments.schemas import (
    DisputeOut,
    DisputeResolution,
    DisputeSubmit,
    ErrorStateRecovery,
    PaymentCreate,
    PaymentList,
    PaymentOut,
    PaymentRef,
    ResolveRequest,
    SubmitResult,
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

router = APIRouter(tags=["payment"])

OnChainFilter = Annotated[
    str | None,
    Query(
        alias="filterOnChainState",
        pattern=r"^(FundsLocked|ResultSubmitted|RefundRequested|Disputed|Withdrawn|"
        r"RefundWithdrawn|DisputedWithdrawn|FundsOrDatumInvalid)$",
    ),
]


@router.post("/payment", summary="Create a payment request: a signed blockchainIdentifier")
def create_payment(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: PaymentCreate
) -> Success[PaymentOut]:
    row = service.create_payment(session, runtime, request, caller)
    return success(service.to_out(session, runtime, row))


def list_filters(
    filter_on_chain_state: OnChainFilter = None,
    filter_needs_manual_action: Annotated[bool, Query(alias="filterNeedsManualAction")] = False,
    search_query: Annotated[
        str | None, Query(alias="searchQuery", min_length=1, max_length=250)
    ] = None,
    source: SourceFilters = None,
) -> ListFilters:
    """The filters GET /payment and /payment/count share."""
    search = search_query.strip().lower() if search_query else None
    return ListFilters(filter_on_chain_state, filter_needs_manual_action, search or None, source)


Filters = Annotated[ListFilters, Depends(list_filters)]


@router.get("/payment", summary="This node's payment requests, newest first")
def list_payments(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    network: NetworkDisplayName,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor_id: Annotated[str | None, Query(alias="cursorId", max_length=32)] = None,
    include_history: Annotated[bool, Query(alias="includeHistory")] = False,
) -> Success[PaymentList]:
    service.check_network(network, runtime.profile)
    rows = service.list_payments(
        session, runtime, limit=limit, cursor_id=cursor_id, filters=filters
    )
    payments = [service.to_out(session, runtime, row, include_history) for row in rows]
    next_cursor = rows[-1].id if len(rows) == limit else None
    return success(PaymentList(payments=payments, next_cursor_id=next_cursor))


@router.get("/payment/count", summary="How many payment requests match GET /payment's filters")
def count_payments(
    _caller: ReadKey,
    runtime: RuntimeDep,
    session: SessionDep,
    network: NetworkDisplayName,
    filters: Filters,
) -> Success[CountOut]:
    service.check_network(network, runtime.profile)
    return success(CountOut(total=service.count_payments(session, runtime, filters)))


def _diff_endpoint(kind: DiffKind) -> Callable[..., Success[PaymentList]]:
    def endpoint(
        _caller: ReadKey,
        runtime: RuntimeDep,
        session: SessionDep,
        network: NetworkDisplayName,
        query: DiffQueryDep,
    ) -> Success[PaymentList]:
        return _diff(runtime, session, network, query, kind)

    return endpoint


for suffix, kind, what in DIFF_FEEDS:
    router.add_api_route(
        f"/payment/diff{suffix}",
        _diff_endpoint(kind),
        methods=["GET"],
        name=f"diff_payments_{kind}",
        summary=f"Payments {what} since lastUpdate, oldest change first; {DIFF_PAGING}",
    )


def _diff(
    runtime: Runtime, session: Session, network: str, query: DiffQuery, kind: DiffKind
) -> Success[PaymentList]:
    service.check_network(network, runtime.profile)
    rows = service.diff_payments(
        session, runtime, since=query.since, cursor_id=query.cursor_id, limit=query.limit,
        kind=kind,
    )  # fmt: skip
    payments = [service.to_out(session, runtime, row, query.include_history) for row in rows]
    next_cursor = rows[-1].id if len(rows) == query.limit else None
    return success(PaymentList(payments=payments, next_cursor_id=next_cursor))


@router.post(
    "/payment/resolve-blockchain-identifier", summary="One payment request by its identifier"
)
def resolve_payment(
    _caller: ReadKey, runtime: RuntimeDep, session: SessionDep, request: ResolveRequest
) -> Success[PaymentOut]:
    row = service.find_payment(session, runtime, request)
    return success(service.to_out(session, runtime, row, request.include_history))


@router.post("/payment/submit-result", summary="Submit the result hash (and metered usage)")
def submit_result(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: SubmitResult
) -> Success[PaymentOut]:
    row = service.submit_result(session, runtime, request, caller)
    return success(service.to_out(session, runtime, row))


@router.post("/payment/authorize-refund", summary="Authorize the buyer's refund of a dispute")
def authorize_refund(
    caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: PaymentRef
) -> Success[PaymentOut]:
    row = service.authorize_refund(session, runtime, request, caller)
    return success(service.to_out(session, runtime, row))


@router.post("/payment/error-state-recovery", summary="Clear an error (optimistic on updatedAt)")
def error_state_recovery(
    _caller: PayKey, runtime: RuntimeDep, session: SessionDep, request: ErrorStateRecovery
) -> Success[PaymentOut]:
    row = service.recover(session, runtime, request)
    return success(service.to_out(session, runtime, row))


@router.post(
    "/payment/resolve-dispute",
    summary="Admins: split a Disputed escrow (WithdrawDisputed); signed here on the devnet",
)
def resolve_dispute(
    _caller: AdminKey, runtime: RuntimeDep, session: SessionDep, request: DisputeResolution
) -> Success[DisputeOut]:
    return success(disputes.resolve(session, runtime, request))


@router.post(
    "/payment/resolve-dispute/submit",
    summary="Admins: send a WithdrawDisputed with the admins' vkey witnesses added",
)
def submit_dispute(
    _caller: AdminKey, runtime: RuntimeDep, request: DisputeSubmit
) -> Success[DisputeOut]:
    return success(disputes.submit_signed(runtime, request))
