"""What the node has asked of Blockfrost (requests per endpoint, retries, rate-limit waits) and how
far the chain mirror is (transactions synced, lag in blocks at its last run)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from node.auth.api import ReadKey
from node.runtime import RuntimeDep, SessionDep
from node.sync.service import sync_metrics
from node.web import Success, success

router = APIRouter(tags=["metrics"])


class BlockfrostMetrics(BaseModel):
    requests: dict[str, int] = Field(description="requests made, per endpoint template")
    total: int
    retries: int
    rate_limit_wait_ms: int = Field(alias="rateLimitWaitMs")

    model_config = {"populate_by_name": True}


class SyncMetrics(BaseModel):
    address: str
    transactions_synced: int = Field(alias="transactionsSynced")
    position: int
    lag_blocks: int | None = Field(alias="lagBlocks", description="at the last run")
    rollbacks: int
    updated_at: int = Field(alias="updatedAt")

    model_config = {"populate_by_name": True}


class Metrics(BaseModel):
    blockfrost: BlockfrostMetrics | None
    sync: list[SyncMetrics] = Field(default_factory=list)


@router.get("/metrics", summary="Blockfrost requests per endpoint, retries and rate-limit waits")
def metrics(_caller: ReadKey, runtime: RuntimeDep, session: SessionDep) -> Success[Metrics]:
    chain = runtime.chain
    synced = [
        SyncMetrics.model_validate(row) for row in sync_metrics(session, runtime.profile.name)
    ]
    if chain is None:
        return success(Metrics(blockfrost=None, sync=synced))
    counter = chain.requests
    return success(
        Metrics(
            blockfrost=BlockfrostMetrics(
                requests=counter.snapshot(),
                total=counter.total,
                retries=counter.retries,
                rate_limit_wait_ms=chain.limiter.waited_ns // 1_000_000,
            ),
            sync=synced,
        )
    )
