"""The agent kit's MIP-003 routes in an agent's own app over HTTP, against a real seller node on a
devnet: availability, the input schema, /start_job for a Dynamic agent (amounts = the seller
quote's reserve, the signed identifier decodes and verifies), bad input refused with the field
named and nothing created, /status and /provide_input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from node.jobs import AgentKit, agent_router, demo
from node.payments import hashes
from node.payments.identifier import decode_blockchain_identifier
from node.payments.signing import PaymentTimes, verify_blockchain_identifier
from tests.node.jobs.conftest import Agent, serve_app

PURCHASER = "a1b2c3d4e5f60718"
TEXT = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen " * 2
START_JOB_FIELDS = {
    "id", "blockchainIdentifier", "payByTime", "submitResultTime", "unlockTime",
    "externalDisputeUnlockTime", "agentIdentifier", "sellerVKey", "identifierFromPurchaser",
    "input_hash", "amounts", "quote",
}  # fmt: skip


def start(agent: Agent, input_data: dict[str, Any], purchaser: str = PURCHASER) -> Any:
    with agent.http() as http:
        return http.post(
            "/start_job", json={"identifier_from_purchaser": purchaser, "input_data": input_data}
        )


def test_availability_and_input_schema(demo_agent: Agent) -> None:
    with demo_agent.http() as http:
        available = http.get("/availability").json()
        schema = http.get("/input_schema").json()
    assert available == {
        "status": "available",
        "type": "masumi-agent",
        "agentIdentifier": demo_agent.agent_identifier,
        "message": None,
    }
    assert [field["id"] for field in schema["input_data"]] == ["text", "mode"]
    assert schema["input_data"][1]["data"]["values"] == ["summary", "echo", "fail"]


def test_an_agent_not_registered_yet_is_unavailable() -> None:
    config = demo.demo_config("http://127.0.0.1:1", "no-key", lambda: None, poll_interval_s=0)
    app = FastAPI()
    app.include_router(agent_router(AgentKit(config)), prefix="/agent")
    with serve_app(app) as url:
        import httpx

        available = httpx.get(url + "/agent/availability").json()
        refused = httpx.post(
            url + "/agent/start_job",
            json={"identifier_from_purchaser": PURCHASER, "input_data": {"text": "hi"}},
        )
    assert available["status"] == "unavailable" and available["agentIdentifier"] is None
    assert refused.status_code == 503


def test_start_job_for_a_dynamic_agent(demo_agent: Agent) -> None:
    input_data = {"text": TEXT}
    answer = start(demo_agent, input_data)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert set(job) == START_JOB_FIELDS
    assert answer.headers["X-Request-Id"] == job["id"]

    quote = job["quote"]
    assert quote["agentIdentifier"] == demo_agent.agent_identifier
    assert job["amounts"] == [{"amount": quote["reserve"], "unit": quote["unit"]}]
    # 28 words read, 12 + 4 written at most: 0.25 + 28 * 0.02 + 16 * 0.05 = 1.61 USDM
    assert quote["reserve"] == "1610000" and quote["expiresAt"] > 0 and quote["breakdown"]

    identifier = decode_blockchain_identifier(job["blockchainIdentifier"])
    assert identifier.request_id == job["id"]
    assert identifier.purchaser_id == PURCHASER == job["identifierFromPurchaser"]
    assert identifier.agent_identifier == demo_agent.agent_identifier == job["agentIdentifier"]
    assert job["input_hash"] == hashes.input_hash(PURCHASER, input_data)

    payment = demo_agent.seller.resolve_payment(job["blockchainIdentifier"])
    assert payment.request_id == job["id"] and payment.quote_id == quote["id"]
    assert [a.wire() for a in payment.requested_funds or []] == job["amounts"]
    wallet = payment.smart_contract_wallet
    assert wallet is not None and wallet.wallet_vkey == job["sellerVKey"]
    assert wallet.wallet_address is not None
    times = PaymentTimes(
        int(job["payByTime"]), int(job["submitResultTime"]), int(job["unlockTime"]),
        int(job["externalDisputeUnlockTime"]),
    )  # fmt: skip
    verified = verify_blockchain_identifier(
        job["blockchainIdentifier"],
        identifier_from_purchaser=PURCHASER,
        agent_identifier=demo_agent.agent_identifier,
        seller_vkey=job["sellerVKey"],
        holder_address=wallet.wallet_address,
        requested_funds=job["amounts"],
        times=times,
        input_hash=job["input_hash"],
    )
    assert verified.request_id == job["id"]

    with demo_agent.http() as http:
        status = http.get("/status", params={"job_id": job["id"]}).json()
    assert status["status"] == "awaiting_payment" and status["result"] is None
    assert status["requestId"] == job["id"]

    again = start(demo_agent, input_data)  # the same job asked twice: the same answer
    assert again.status_code == 200, again.text
    assert again.json() == job


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"identifier_from_purchaser": PURCHASER, "input_data": {}}, "input_data.text"),
        (
            {"identifier_from_purchaser": PURCHASER, "input_data": {"text": "x", "more": 1}},
            "input_data.more",
        ),
        (
            {"identifier_from_purchaser": PURCHASER, "input_data": {"text": "x", "mode": "loud"}},
            "input_data.mode",
        ),
        ({"identifier_from_purchaser": PURCHASER, "input_data": {"text": 7}}, "input_data.text"),
        (
            {"identifier_from_purchaser": PURCHASER, "input_data": {"text": "x" * 20001}},
            "input_data.text",
        ),
        ({"identifier_from_purchaser": "not hex!", "input_data": {"text": "x"}}, "purchaser"),
        ({"identifier_from_purchaser": "ab", "input_data": {"text": "x"}}, "purchaser"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    demo_agent: Agent, body: dict[str, Any], field: str
) -> None:
    with demo_agent.http() as http:
        answer = http.post("/start_job", json=body)
    assert answer.status_code == 422, answer.text
    assert ("identifier_from_purchaser" if field == "purchaser" else field) in answer.text
    assert demo_agent.seller.list_payments().payments == []
    assert demo_agent.kit.store.pending() == []


def test_status_and_provide_input_of_unknown_jobs(demo_agent: Agent) -> None:
    with demo_agent.http() as http:
        missing = http.get("/status", params={"job_id": "nope"})
        provide = http.post("/provide_input", json={"job_id": "nope", "input_data": {}})
    assert missing.status_code == 404 and missing.json()["error"]["fields"] == ["job_id"]
    assert provide.status_code == 404
