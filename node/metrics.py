"""What the node has asked of Blockfrost: requests per endpoint, retries, rate-limit waits."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from node.auth.api import ReadKey
from node.runtime import RuntimeDep
from node.web import Success, success

router = APIRouter(tags=["metrics"])


class BlockfrostMetrics(BaseModel):
    requests: dict[str, int] = Field(description="requests made, per endpoint template")
    total: int
    retries: int
    rate_limit_wait_ms: int = Field(alias="rateLimitWaitMs")

    model_config = {"populate_by_name": True}


class Metrics(BaseModel):
    blockfrost: BlockfrostMetrics | None


@router.get("/metrics", summary="Blockfrost requests per endpoint, retries and rate-limit waits")
def metrics(_caller: ReadKey, runtime: RuntimeDep) -> Success[Metrics]:
    chain = runtime.chain
    if chain is None:
        return success(Metrics(blockfrost=None))
    counter = chain.requests
    return success(
        Metrics(
            blockfrost=BlockfrostMetrics(
                requests=counter.snapshot(),
                total=counter.total,
                retries=counter.retries,
                rate_limit_wait_ms=chain.limiter.waited_ns // 1_000_000,
            )
        )
    )
