"""The kit's poller against a real seller node on a devnet: a job whose funds are locked runs its
handler once and submits the MIP-004 result hash with the measured usage; a failing handler
submits nothing; an unpaid job waits. The lock is a buyer's real transaction (the payments
tests' world: a Dynamic agent held by the node's Selling wallet)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pycardano import Value
from sqlmodel import Session

from node.crypto import SecretBox
from node.jobs import AgentConfig, AgentKit, demo
from node.jobs.schemas import StartJobRequest
from node.jobs.service import KitError
from node.payments import hashes
from node.payments.workers import unit_value
from tests.conftest import make_key
from tests.node.payments import conftest as payments
from tests.node.payments.conftest import SellerWorld, lock

# The payments tests' world for this module (its own devnet), in place of the agents' one.
seller_devnet = payments.seller_devnet
seller_world = payments.seller_world
world = payments.world

PURCHASER = "0badc0ffee0ddf00d5"
TEXT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture
def kit(world: SellerWorld, session: Session, secret_box: SecretBox) -> Iterator[AgentKit]:
    token = make_key(session, secret_box, canAdmin=True)
    agent = world.agents["Dynamic"]
    config = demo.demo_config(
        world.node.url, token, agent, poll_interval_s=0, stablecoin_unit=world.usdm
    )
    kit = AgentKit(config)
    kit.client.put_billing_pricing(agent, demo.PRICING)
    yield kit
    kit.client.close()
    kit.store.close()


def start(kit: AgentKit, input_data: dict[str, Any], purchaser: str = PURCHASER) -> Any:
    request = StartJobRequest(identifier_from_purchaser=purchaser, input_data=input_data)
    return asyncio.run(kit.start_job(request))


def paid(world: SellerWorld, kit: AgentKit, job: Any) -> dict[str, Any]:
    """The buyer locks what /start_job asked; the seller node's sync sees it."""
    payment = kit.client.resolve_payment(job.blockchain_identifier).raw
    amount = int(job.amounts[0].amount)
    lock(world, payment, Value(2_000_000) + unit_value(world.usdm, amount))
    world.tick()
    return payment


def test_a_locked_job_runs_once_and_submits_its_result_with_usage(
    world: SellerWorld, kit: AgentKit
) -> None:
    job = start(kit, {"text": TEXT})
    assert asyncio.run(kit.poll_once()) == 0  # not paid yet: the job waits
    assert kit.status(job.id).status == "awaiting_payment"

    paid(world, kit, job)
    assert asyncio.run(kit.poll_once()) == 1
    assert asyncio.run(kit.poll_once()) == 0  # the handler ran once
    status = kit.status(job.id)
    assert status.status == "completed"
    expected = demo.summarise({"text": TEXT})
    assert status.result == expected
    assert status.result_hash == hashes.result_hash(PURCHASER, expected)

    payment = kit.client.resolve_payment(job.blockchain_identifier)
    assert payment.next_action.requested_action == "SubmitResultRequested"
    assert payment.next_action.model_extra is not None
    assert payment.next_action.model_extra["resultHash"] == status.result_hash
    assert payment.raw["usage"] == {"requests": 1, "input_tokens": 9, "output_tokens": 12}

    world.tick()  # the seller node submits the result on chain
    world.blocks()
    world.tick()
    assert kit.client.resolve_payment(job.blockchain_identifier).on_chain_state == (
        "ResultSubmitted"
    )


def test_a_failing_handler_submits_nothing(world: SellerWorld, kit: AgentKit) -> None:
    job = start(kit, {"text": TEXT, "mode": "fail"}, purchaser="feedfacefeedface")
    paid(world, kit, job)
    assert asyncio.run(kit.poll_once()) == 1
    assert asyncio.run(kit.poll_once()) == 0  # a failed job is not tried again
    status = kit.status(job.id)
    assert status.status == "failed" and status.result is None
    assert status.message is not None and "asked to fail" in status.message
    payment = kit.client.resolve_payment(job.blockchain_identifier)
    assert payment.on_chain_state == "FundsLocked"
    assert payment.next_action.requested_action == "WaitingForExternalAction"


def test_a_refused_result_fails_the_job_and_a_node_down_is_retried(
    world: SellerWorld, kit: AgentKit
) -> None:
    job = start(kit, {"text": "short"}, purchaser="abcdefabcdefabcd")
    paid(world, kit, job)
    real = kit.client

    class Down:
        def resolve_payment(self, bi: str) -> Any:
            return real.resolve_payment(bi)

        def submit_result(self, *_args: Any, **_kwargs: Any) -> Any:
            raise httpx.ConnectError("the seller node is down")

    kit.client = Down()  # type: ignore[assignment]
    asyncio.run(kit.poll_once())
    stored = kit.store.get(job.id)
    assert stored is not None and stored.status == "running" and not stored.submitted
    assert stored.message is not None and "will be retried" in stored.message
    kit.client = real
    assert asyncio.run(kit.poll_once()) == 1  # the result, computed once, is sent again
    assert kit.status(job.id).status == "completed"


@pytest.mark.parametrize(("mode", "option", "price"), [("Fixed", None, 2), ("Fixed+prices", 1, 4)])
def test_fixed_agents_ask_their_price_from_the_chain(
    world: SellerWorld, session: Session, secret_box: SecretBox, mode: str, option: int | None,
    price: int,
) -> None:  # fmt: skip
    token = make_key(session, secret_box, permission="ReadAndPay")
    config = AgentConfig(
        node_url=world.node.url, api_key=token, agent_identifier=world.agents[mode],
        input_schema=demo.INPUT_SCHEMA, handler=demo.handler, poll_interval_s=0,
    )  # fmt: skip
    kit = AgentKit(config)
    request = StartJobRequest(
        identifier_from_purchaser=PURCHASER, input_data={"text": TEXT}, option=option
    )
    job = asyncio.run(kit.start_job(request))
    assert job.quote is None
    assert [(a.amount, a.unit) for a in job.amounts] == [(str(price * 1_000_000), world.usdm)]
    payment = kit.client.resolve_payment(job.blockchain_identifier)
    assert payment.raw["RequestedFunds"] == [a.model_dump() for a in job.amounts]
    if mode == "Fixed+prices":
        too_far = request.model_copy(update={"option": 2, "identifier_from_purchaser": "ab" * 8})
        with pytest.raises(KitError) as refused:
            asyncio.run(kit.start_job(too_far))
        assert refused.value.status == 422 and refused.value.fields == ["option"]
    kit.client.close()
