"""The agent kit's logic: price and register a job with the seller node, watch its payment, run
the agent's handler once the funds are locked, and submit the result hash (MIP-003, MIP-004).

The seller node is reached over HTTP with node.client, as an agent far from the node would:
`POST /api/v1/public/pricing/{agent}/quote` (Dynamic agents), `POST /api/v1/payment`,
`POST /api/v1/payment/resolve-blockchain-identifier` (the poller),
`POST /api/v1/payment/submit-result` (with the measured usage for metered plans).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from node.client import Amount, Payment, PaynodeClient, PaynodeError, SellerQuote
from node.jobs.hashes import input_hash, output_text, result_hash
from node.jobs.schemas import (
    AmountOut,
    Availability,
    InputField,
    ProvideInputRequest,
    ProvideInputResponse,
    StartJobRequest,
    StartJobResponse,
    StatusResponse,
)
from node.jobs.store import INPUT_PROVIDED, Job, JobStore
from node.jobs.validate import InputError, check_input
from node.payments.identifier import decode_blockchain_identifier

logger = logging.getLogger(__name__)

Output = str | Mapping[str, Any]
Handler = Callable[[dict[str, Any], Job], Awaitable[Output]]
UsageEstimate = Callable[[Mapping[str, Any]], Mapping[str, int]]
UsageReport = Callable[[Mapping[str, Any], str, Job], Mapping[str, int]]

ANONYMOUS_BUYER = "0" * 56  # the quote's buyer when /start_job does not name one
DYNAMIC, FIXED_PRICES = "Dynamic", "Fixed+prices"
# Payment states after which a job still awaiting its funds will never get them.
GIVEN_UP = frozenset({"FundsOrDatumInvalid", "RefundWithdrawn", "DisputedWithdrawn", "Withdrawn"})
# The seller node's answers the buyer can act on (a conflict, a rate limit).
PASSED_THROUGH = frozenset({409, 429})
ASSET_UNIT = re.compile(r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$")


@dataclass
class AgentConfig:
    """What an agent tells the kit. `agent_identifier` may be a function while the agent is
    being registered (None until then: the agent is unavailable). `pricing_mode` None: read
    from the agent's registry entry on chain (through the seller node)."""

    node_url: str
    api_key: str
    agent_identifier: str | Callable[[], str | None]
    input_schema: Sequence[InputField | Mapping[str, Any]]
    handler: Handler
    network: str = "Devnet"
    pricing_mode: str | None = None
    estimate_usage: UsageEstimate | None = None
    report_usage: UsageReport | None = None
    store_path: str | Path = ":memory:"
    poll_interval_s: float = 2.0
    payment_fields: Callable[[], Mapping[str, Any]] | None = None
    name: str = "agent"
    stablecoin_unit: str | None = None  # the asset a quote priced in "USDM" (by name) locks


class AwaitingInput(Exception):
    """What a handler raises to ask the buyer for more input: the job waits, its /status says
    `awaiting_input` with `input_schema`, until /provide_input brings input_data that fits that
    schema; then the handler runs again, with every input provided so far, oldest first, in
    `job.provided_input`."""

    def __init__(
        self, input_schema: Sequence[InputField | Mapping[str, Any]], message: str | None = None
    ) -> None:
        super().__init__(message or "more input is needed")
        self.input_schema = [InputField.model_validate(item) for item in input_schema]
        if not self.input_schema:
            raise ValueError("AwaitingInput needs at least one input field")
        self.message = message


class KitError(Exception):
    """An answer of the kit's routes other than success."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.headers = headers


def _node_error(what: str, error: Exception) -> KitError:
    if isinstance(error, PaynodeError) and error.status in PASSED_THROUGH:
        headers = {"Retry-After": "1"} if error.status == 429 else None
        return KitError(error.status, error.code, f"{what}: {error.message}", headers=headers)
    return KitError(502, "seller_node_error", f"{what}: {error}")


class AgentKit:
    """One agent's jobs. `router` is what the agent mounts; `poll_once` is one poller tick."""

    def __init__(self, config: AgentConfig, client: PaynodeClient | None = None) -> None:
        self.config = config
        self.schema = [InputField.model_validate(field) for field in config.input_schema]
        self.store = JobStore(config.store_path)
        self.store.requeue_interrupted()  # an agent restarted mid-job runs it again
        self.client = client or PaynodeClient(
            config.node_url, config.api_key, network=config.network
        )
        self._pricing: tuple[str, list[Amount]] | None = None
        self._resumed: set[asyncio.Task[int]] = set()

    @property
    def agent_identifier(self) -> str | None:
        found = self.config.agent_identifier
        return found() if callable(found) else found

    def availability(self) -> Availability:
        agent = self.agent_identifier
        if agent is None:
            message = f"{self.config.name} is not registered yet"
            return Availability(status="unavailable", agent_identifier=None, message=message)
        return Availability(status="available", agent_identifier=agent, message=None)

    # --- /start_job ---

    async def start_job(self, request: StartJobRequest) -> StartJobResponse:
        agent = self.agent_identifier
        if agent is None:
            raise KitError(503, "unavailable", f"{self.config.name} is not registered yet")
        try:
            check_input(self.schema, request.input_data)
        except InputError as error:
            raise KitError(422, "invalid_field", str(error), [error.field]) from error
        # the seller node signs it in lowercase: the hashes use the same text
        purchaser = request.identifier_from_purchaser.lower()
        request = request.model_copy(update={"identifier_from_purchaser": purchaser})
        digest = input_hash(purchaser, request.input_data)
        return await asyncio.to_thread(self._open_job, agent, request, digest)

    def _open_job(self, agent: str, request: StartJobRequest, digest: str) -> StartJobResponse:
        requested, amounts, quote = self._price(agent, request)
        payment = self._create_payment(agent, request, digest, requested, quote)
        request_id = (
            payment.request_id
            or decode_blockchain_identifier(payment.blockchain_identifier).request_id
        )
        known = self.store.get(request_id)
        if known is not None:  # the same job asked again: the same answer
            return self._answer(known, payment)
        if payment.requested_funds:  # what the node signed, also for a job asked before
            amounts = payment.requested_funds
        same_quote = quote is not None and quote.id == payment.quote_id
        job = Job(
            id=request_id,
            agent_identifier=agent,
            identifier_from_purchaser=request.identifier_from_purchaser,
            input_data=dict(request.input_data),
            input_hash=digest,
            blockchain_identifier=payment.blockchain_identifier,
            request_id=request_id,
            status="awaiting_payment",
            amounts=[amount.wire() for amount in amounts],
            quote_id=payment.quote_id,
            quote=quote.raw if quote is not None and same_quote else None,
            submit_result_time=payment.submit_result_time,
        )
        self.store.add(job)
        return self._answer(job, payment)

    def _price(
        self, agent: str, request: StartJobRequest
    ) -> tuple[list[Amount] | None, list[Amount], SellerQuote | None]:
        """(RequestedFunds to sign, what the buyer locks, the seller's quote)."""
        mode, prices = self._pricing_of(agent)
        if mode == DYNAMIC:
            quote = self._on_chain_units(self._quote(agent, request))
            funds = [Amount(amount=quote.reserve, unit=quote.unit)]
            return funds, funds, quote
        if mode == FIXED_PRICES:
            index = request.option or 0
            if index >= len(prices):
                raise KitError(422, "invalid_field", f"option: 0 to {len(prices) - 1}", ["option"])
            return [prices[index]], [prices[index]], None
        return None, prices, None

    def _pricing_of(self, agent: str) -> tuple[str, list[Amount]]:
        """The agent's pricing mode and on-chain amounts, read once."""
        if self._pricing is None:
            if self.config.pricing_mode == DYNAMIC:
                self._pricing = (DYNAMIC, [])
            else:
                self._pricing = self._read_pricing(agent)
        return self._pricing

    def _read_pricing(self, agent: str) -> tuple[str, list[Amount]]:
        try:
            metadata = self.client.onchain_agent(agent).metadata or {}
        except (PaynodeError, httpx.HTTPError) as error:
            raise _node_error("reading the agent's pricing", error) from error
        mode = self.config.pricing_mode or str(metadata.get("pricingMode", ""))
        amounts = [
            Amount(amount=item["quantity"], unit=item["unit"])
            for item in metadata.get("amounts", [])
        ]
        return mode, amounts

    def _quote(self, agent: str, request: StartJobRequest) -> SellerQuote:
        estimate = self.config.estimate_usage
        usage = dict(estimate(request.input_data)) if estimate else {"requests": 1}
        try:
            return self.client.quote_pricing(agent, request.buyer or ANONYMOUS_BUYER, usage)
        except (PaynodeError, httpx.HTTPError) as error:
            raise _node_error("the seller node's quote", error) from error

    def _chain_unit(self, unit: str) -> str:
        if unit in ("", "lovelace") or ASSET_UNIT.match(unit):
            return unit
        if self.config.stablecoin_unit is None:
            raise KitError(
                502, "unknown_unit", f"the seller quotes in {unit!r}: set the stablecoin unit"
            )
        return self.config.stablecoin_unit

    def _on_chain_units(self, quote: SellerQuote) -> SellerQuote:
        """The quote with its unit as the chain knows it: a plan priced in "USDM" (the name, as a
        node quotes on a network whose stablecoin it names) locks the stablecoin's asset."""
        unit = self._chain_unit(quote.unit)
        if unit == quote.unit:
            return quote
        raw = dict(quote.raw)
        raw["unit"] = unit
        raw["amounts"] = [
            {**item, "unit": self._chain_unit(str(item.get("unit", "")))}
            for item in raw.get("amounts", [])
        ]
        converted = SellerQuote.model_validate(raw)
        converted.request_id = quote.request_id
        converted._raw = raw
        return converted

    def _create_payment(
        self,
        agent: str,
        request: StartJobRequest,
        digest: str,
        requested: list[Amount] | None,
        quote: SellerQuote | None,
    ) -> Payment:
        extra = dict(self.config.payment_fields()) if self.config.payment_fields else None
        try:
            return self.client.create_payment(
                agent,
                digest,
                request.identifier_from_purchaser,
                requested_funds=requested,
                quote_id=None if quote is None else quote.id,
                extra=extra,
            )
        except PaynodeError as error:
            existing = error.body.get("object") if isinstance(error.body, dict) else None
            if error.status == 409 and isinstance(existing, dict):
                return Payment.model_validate(existing)  # this job was asked for before
            raise _node_error("the seller node's payment request", error) from error
        except httpx.HTTPError as error:
            raise _node_error("the seller node's payment request", error) from error

    def _answer(self, job: Job, payment: Payment) -> StartJobResponse:
        wallet = payment.smart_contract_wallet
        return StartJobResponse(
            id=job.id,
            blockchain_identifier=payment.blockchain_identifier,
            pay_by_time=str(payment.pay_by_time),
            submit_result_time=str(payment.submit_result_time),
            unlock_time=str(payment.unlock_time),
            external_dispute_unlock_time=str(payment.external_dispute_unlock_time),
            agent_identifier=job.agent_identifier,
            seller_vkey=wallet.wallet_vkey if wallet is not None else "",
            identifier_from_purchaser=job.identifier_from_purchaser,
            input_hash=job.input_hash,
            amounts=[AmountOut(**amount) for amount in job.amounts],
            quote=job.quote,
        )

    # --- /status ---

    def status(self, job_id: str) -> StatusResponse:
        job = self.store.get(job_id)
        if job is None:
            raise KitError(404, "not_found", "job not found", ["job_id"])
        waiting = job.status == "awaiting_input"
        return StatusResponse(
            id=job.id,
            job_id=job.id,
            status="running" if job.status == INPUT_PROVIDED else job.status,
            result=job.result if job.status == "completed" else None,
            result_hash=job.result_hash if job.status == "completed" else None,
            message=job.message,
            blockchain_identifier=job.blockchain_identifier,
            request_id=job.request_id,
            input_schema=(
                [InputField.model_validate(item) for item in job.input_schema or []]
                if waiting
                else None
            ),
        )

    # --- /provide_input ---

    def provide_input(self, request: ProvideInputRequest) -> ProvideInputResponse:
        """Input for a job awaiting it: checked against the schema the handler asked with
        (422 naming the field), then the job is queued to run its handler again."""
        job = self.store.get(request.job_id)
        if job is None:
            raise KitError(404, "not_found", "job not found", ["job_id"])
        if job.status != "awaiting_input":
            shown = self.status(job.id).status
            raise KitError(
                409, "not_awaiting_input", f"the job is {shown}, not awaiting input", ["job_id"]
            )
        schema = [InputField.model_validate(item) for item in job.input_schema or []]
        try:
            check_input(schema, request.input_data)
        except InputError as error:
            raise KitError(422, "invalid_field", str(error), [error.field]) from error
        if not self.store.provide(job.id, dict(request.input_data)):
            message = "the input was provided meanwhile"
            raise KitError(409, "not_awaiting_input", message, ["job_id"])
        return ProvideInputResponse(
            id=job.id,
            job_id=job.id,
            status="running",
            input_hash=input_hash(job.identifier_from_purchaser, request.input_data),
        )

    def resume_soon(self, job_id: str) -> None:
        """Run the handler of a job given its input now, in the background (the poller would
        on its next tick; the store lets only one of them run it)."""
        task = asyncio.get_running_loop().create_task(self.resume(job_id))
        self._resumed.add(task)
        task.add_done_callback(self._resumed.discard)

    async def resume(self, job_id: str) -> int:
        """The handler of a job whose input was provided, run again once: 1 if it ran here."""
        job = self.store.get(job_id)
        if (
            job is None
            or job.status != INPUT_PROVIDED
            or not self.store.claim(job.id, INPUT_PROVIDED)
        ):
            return 0
        await self._run(job)
        return 1

    # --- the poller ---

    async def poll_once(self) -> int:
        """One tick: every pending job moved on as far as it goes; how many moved."""
        moved = await asyncio.gather(*(self._advance(job) for job in self.store.pending()))
        return sum(moved)

    async def run(self) -> None:
        """Poll until cancelled; what a tick raises is logged and the loop goes on."""
        while True:
            try:
                await self.poll_once()
            except Exception:
                logger.exception("%s: a poll of the jobs failed", self.config.name)
            await asyncio.sleep(self.config.poll_interval_s)

    async def _advance(self, job: Job) -> int:
        if job.status == "running":  # a result the node has not accepted yet
            return await self._submit(job)
        if job.status == INPUT_PROVIDED:  # the buyer answered: the handler goes on
            return await self.resume(job.id)
        try:
            payment = await asyncio.to_thread(
                self.client.resolve_payment, job.blockchain_identifier
            )
        except (PaynodeError, httpx.HTTPError) as error:
            logger.warning("%s: job %s: payment not readable: %s", self.config.name, job.id, error)
            return 0
        if payment.on_chain_state == "FundsLocked":
            if not self.store.claim(job.id):
                return 0
            await self._run(job)
            return 1
        if payment.on_chain_state in GIVEN_UP:
            message = f"the payment ended as {payment.on_chain_state} before the job ran"
            self.store.update(job.id, status="failed", message=message)
            return 1
        return 0

    async def _run(self, job: Job) -> None:
        try:
            output = await self.config.handler(dict(job.input_data), job)
            text = output_text(output)
        except AwaitingInput as asked:
            schema = [f.model_dump(mode="json", exclude_none=True) for f in asked.input_schema]
            self.store.update(
                job.id, status="awaiting_input", input_schema=schema, message=asked.message
            )
            return
        except Exception as error:
            message = f"the handler failed: {type(error).__name__}: {error}"
            logger.warning("%s: job %s: %s", self.config.name, job.id, message)
            logger.debug("the handler's traceback", exc_info=True)
            self.store.update(job.id, status="failed", message=message)
            return
        report = self.config.report_usage
        usage = dict(report(job.input_data, text, job)) if report else None
        digest = result_hash(job.identifier_from_purchaser, text)
        self.store.update(job.id, result=text, result_hash=digest, usage=usage)
        stored = self.store.get(job.id)
        assert stored is not None
        await self._submit(stored)

    async def _submit(self, job: Job) -> int:
        assert job.result_hash is not None
        try:
            await asyncio.to_thread(
                self.client.submit_result,
                job.blockchain_identifier,
                job.result_hash,
                usage=job.usage,
            )
        except PaynodeError as error:
            if 400 <= error.status < 500 and error.status not in (408, 429):
                message = f"the seller node refused the result: {error.message}"
                self.store.update(job.id, status="failed", message=message)
                return 1
            self.store.update(job.id, message=f"submit-result will be retried: {error}")
            return 0
        except httpx.HTTPError as error:
            self.store.update(job.id, message=f"submit-result will be retried: {error}")
            return 0
        self.store.update(job.id, status="completed", submitted=True, message=None)
        return 1
