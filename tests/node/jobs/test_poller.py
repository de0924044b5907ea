"""The kit's poller against a real seller node on a devnet: a job whose funds are locked runs its
handler once and submits the MIP-004 result hash with the measured usage; a failing handler
submits nothing; an unpaid job waits. The lock is a buyer's real transaction (the payments
tests' world: a Dynamic agent held by the node's Selling wallet)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pycardano import Value
from sqlmodel import Session

from node.crypto import SecretBox
from node.jobs import AgentConfig, AgentKit, AwaitingInput, Job, agent_router, demo
from node.jobs.schemas import ProvideInputRequest, StartJobRequest
from node.jobs.service import KitError
from node.payments import hashes
from node.payments.workers import unit_value
from tests.conftest import make_key
from tests.node.jobs.conftest import serve_app
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


ASKED = [
    {"id": "tone", "type": "option", "data": {"values": ["dry", "warm"]}},
    {"id": "words", "type": "number",
     "validations": [{"validation": "min", "value": "1"}, {"validation": "max", "value": "50"}]},
]  # fmt: skip


async def asks_first(input_data: dict[str, Any], job: Job) -> str:
    """A handler that asks the buyer how to answer before it answers."""
    if not job.provided_input:
        raise AwaitingInput(ASKED, "how should the summary sound?")
    answer = job.provided_input[-1]
    return f"{answer['tone']}: {' '.join(input_data['text'].split()[: answer['words']])}"


def test_a_handler_awaiting_input_resumes_with_the_input_provided(
    world: SellerWorld, kit: AgentKit
) -> None:
    kit.config.handler = asks_first
    app = FastAPI()
    app.include_router(agent_router(kit))
    job = start(kit, {"text": TEXT}, purchaser="a5a5a5a5a5a5a5a5")
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        early = http.post("/provide_input", json={"job_id": job.id, "input_data": {}})
        assert early.status_code == 409 and early.json()["error"]["fields"] == ["job_id"]
        paid(world, kit, job)
        assert asyncio.run(kit.poll_once()) == 1
        status = http.get("/status", params={"job_id": job.id}).json()
        assert status["status"] == "awaiting_input"
        assert status["message"] == "how should the summary sound?"
        assert [field["id"] for field in status["input_schema"]] == ["tone", "words"]
        assert asyncio.run(kit.poll_once()) == 0  # nothing runs while the buyer is asked

        for bad, field in (
            ({"tone": "loud", "words": 3}, "input_data.tone"),
            ({"tone": "dry", "words": 99}, "input_data.words"),
            ({"tone": "dry"}, "input_data.words"),
            ({"tone": "dry", "words": 3, "extra": 1}, "input_data.extra"),
        ):
            refused = http.post("/provide_input", json={"job_id": job.id, "input_data": bad})
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"]["fields"] == [field]
        assert kit.status(job.id).status == "awaiting_input"  # nothing was taken

        given = {"tone": "dry", "words": 4}
        taken = http.post("/provide_input", json={"job_id": job.id, "input_data": given})
        assert taken.status_code == 200, taken.text
        assert taken.json()["status"] == "running"
        assert taken.json()["input_hash"] == hashes.input_hash("a5a5a5a5a5a5a5a5", given)
        again = http.post("/provide_input", json={"job_id": job.id, "input_data": given})
        assert again.status_code == 409  # taken once
        deadline = time.monotonic() + 30
        while (status := http.get("/status", params={"job_id": job.id}).json())[
            "status"
        ] != "completed":
            assert status["status"] == "running" and time.monotonic() < deadline, status
            time.sleep(0.1)
    assert status["result"] == "dry: the quick brown fox"
    assert status["input_schema"] is None
    stored = kit.store.get(job.id)
    assert stored is not None and stored.provided_input == [given] and stored.submitted
    payment = kit.client.resolve_payment(job.blockchain_identifier)
    assert payment.next_action.requested_action == "SubmitResultRequested"


def test_input_provided_while_the_agent_was_down_is_run_by_the_poller(
    world: SellerWorld, kit: AgentKit
) -> None:
    kit.config.handler = asks_first
    job = start(kit, {"text": TEXT}, purchaser="b6b6b6b6b6b6b6b6")
    paid(world, kit, job)
    assert asyncio.run(kit.poll_once()) == 1
    taken = kit.provide_input(
        ProvideInputRequest(job_id=job.id, input_data={"tone": "warm", "words": 2})
    )
    assert taken.status == "running" and kit.status(job.id).status == "running"
    assert asyncio.run(kit.poll_once()) == 1  # the handler ran again, once
    assert asyncio.run(kit.poll_once()) == 0
    status = kit.status(job.id)
    assert status.status == "completed" and status.result == "warm: the quick"
