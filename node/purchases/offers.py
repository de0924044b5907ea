"""What a buyer checks before it pays: the agent as the chain shows it (pricing, holder), the
seller's /start_job answer, the blockchainIdentifier's signature, the amounts against the on-chain
pricing and the deadlines against §9.3 (masumi-protocol.md §7.1, §9.3, §14, §15).

Every refusal is an ApiError that names the field and says why; nothing here writes or locks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from node.chain.blockfrost import BlockfrostChain
from node.chain.port import ChainError, ChainNotFound
from node.payments import signing
from node.payments.identifier import IdentifierError, decode_blockchain_identifier
from node.purchases.schemas import PosixMs
from node.web import ApiError, field_error
from registry import onchain
from registry.identifiers import AgentIdentifier
from registry.metadata import PricingMode, normalise_unit

MINUTE_MS = 60_000
START_JOB_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_ANSWER_BYTES = 256_000

Funds = list[dict[str, str]]  # [{"amount": "<int>", "unit": "<unit>"}] as the seller wrote them


@dataclass(frozen=True)
class ChainAgent:
    """An agent that can be paid: its identifier, pricing, endpoint and the NFT's holder."""

    agent_identifier: str
    mode: PricingMode
    prices: Funds  # Fixed: what is paid; Fixed+prices: the tiers; Dynamic: none
    holder: str
    api_base_url: str


@dataclass(frozen=True)
class Offer:
    """The terms of one job as the seller signed them (a /start_job answer or a purchase body)."""

    blockchain_identifier: str
    agent_identifier: str
    identifier_from_purchaser: str
    seller_vkey: str
    input_hash: str
    pay_by_time: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int
    amounts: Funds | None  # the RequestedFunds as given (None for Fixed pricing)


def _chain(chain: BlockfrostChain | None) -> BlockfrostChain:
    if chain is None:
        raise ApiError(503, "this node has no chain connection", code="no_chain")
    return chain


def read_chain_agent(chain: BlockfrostChain | None, agent_identifier: str) -> ChainAgent:
    """The agent from the chain; refused when it does not exist, is burned, its metadata is
    unreadable, or it is Free (there is nothing to pay)."""
    field = "agentIdentifier"
    try:
        unit = AgentIdentifier.parse(agent_identifier.lower()).unit
        agent = onchain.read_agent(_chain(chain), unit)
    except ValueError as error:
        raise field_error(field, str(error)) from error
    except ChainNotFound as error:
        raise field_error(field, "no such agent on chain") from error
    except ChainError as error:
        raise ApiError(
            503, f"the chain is unavailable: {error}", code="chain_unavailable"
        ) from error
    if agent.burned or agent.holder is None:
        raise field_error(field, "the agent is deregistered (its registry NFT is burned)")
    metadata = agent.metadata
    if metadata is None:
        problems = "; ".join(str(violation) for violation in agent.violations)
        raise field_error(field, f"the agent's registry metadata is invalid: {problems}")
    if metadata.pricing_mode is PricingMode.FREE:
        raise field_error(field, "the agent is Free: there is nothing to pay")
    prices = [{"amount": str(a.quantity), "unit": a.unit} for a in metadata.amounts]
    return ChainAgent(
        agent.unit, metadata.pricing_mode, prices, agent.holder, metadata.api_base_url
    )


# amounts ------------------------------------------------------------------------------------


def funds_key(funds: Sequence[Mapping[str, Any]]) -> Counter[tuple[str, int]]:
    """Amounts compared as a multiset of (unit, quantity); "" and "lovelace" are one unit."""
    counted: Counter[tuple[str, int]] = Counter()
    for item in funds:
        unit = normalise_unit(str(item["unit"]))
        counted[(unit, int(str(item["amount"])))] += 1
    return counted


def parse_funds(raw: object, field: str) -> Funds:
    """A list of {amount, unit} with integer amounts > 0 and known units, kept as written."""
    if not isinstance(raw, list) or not raw or len(raw) > 7:
        raise field_error(field, "must be a list of 1 to 7 {amount, unit}")
    funds: Funds = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise field_error(field, "every entry is {amount, unit}")
        amount, unit = item.get("amount"), item.get("unit")
        text = (
            str(amount) if isinstance(amount, (str, int)) and not isinstance(amount, bool) else ""
        )
        if not text.isdigit() or len(text) > 25 or int(text) <= 0:
            raise field_error(field, f"amount {amount!r} is not a positive integer")
        if not isinstance(unit, str):
            raise field_error(field, "unit must be a string")
        try:
            normalise_unit(unit)
        except ValueError as error:
            raise field_error(field, str(error)) from error
        funds.append({"amount": text, "unit": unit})
    return funds


def paid_funds(agent: ChainAgent, offered: Funds | None, field: str = "Amounts") -> Funds:
    """What the buyer locks: the fixed price, one of the tiers, or the signed Dynamic amounts."""
    if agent.mode is PricingMode.FIXED:
        if offered is not None and funds_key(offered) != funds_key(agent.prices):
            raise field_error(field, "differ from the agent's fixed price on chain")
        return [dict(price) for price in agent.prices]
    if offered is None:
        raise field_error(field, f"are required for a {agent.mode} agent")
    if agent.mode is PricingMode.FIXED_PRICES:
        tiers = [funds_key([tier]) for tier in agent.prices]
        if funds_key(offered) not in tiers:
            raise field_error(field, "are not one of the agent's price tiers on chain")
    return [dict(item) for item in offered]


def requested_funds(agent: ChainAgent, offered: Funds | None) -> Funds | None:
    """The RequestedFunds the identifier signs: null for Fixed, the amounts otherwise (§7.1)."""
    return None if agent.mode is PricingMode.FIXED else offered


# deadlines ----------------------------------------------------------------------------------


def check_times(offer: Offer, now: int) -> None:
    """§9.3's rules; and a pay-by time still ahead, or nothing can be locked."""
    rules = (
        ("payByTime", offer.pay_by_time > now, "has passed: nothing can be locked any more"),
        (
            "payByTime",
            offer.pay_by_time <= offer.submit_result_time - 5 * MINUTE_MS,
            "must be at least 5 minutes before submitResultTime",
        ),
        (
            "submitResultTime",
            offer.submit_result_time >= now + 15 * MINUTE_MS,
            "must be at least 15 minutes from now",
        ),
        (
            "unlockTime",
            offer.unlock_time >= offer.submit_result_time + 15 * MINUTE_MS,
            "must be at least 15 minutes after submitResultTime",
        ),
        (
            "externalDisputeUnlockTime",
            offer.external_dispute_unlock_time >= offer.unlock_time + 15 * MINUTE_MS,
            "must be at least 15 minutes after unlockTime",
        ),
    )
    for field, holds, message in rules:
        if not holds:
            raise field_error(field, message)


# the identifier -----------------------------------------------------------------------------


def request_id_of(blockchain_identifier: str) -> str:
    try:
        return decode_blockchain_identifier(blockchain_identifier).request_id
    except IdentifierError as error:
        raise field_error("blockchainIdentifier", str(error)) from error


def verify_offer(agent: ChainAgent, offer: Offer) -> None:
    """The seller's signature over these terms, by the key of the agent NFT's current holder."""
    if offer.agent_identifier.lower() != agent.agent_identifier:
        raise field_error("agentIdentifier", "is not the agent the identifier names")
    try:
        signing.verify_blockchain_identifier(
            offer.blockchain_identifier,
            identifier_from_purchaser=offer.identifier_from_purchaser,
            agent_identifier=agent.agent_identifier,
            seller_vkey=offer.seller_vkey,
            holder_address=agent.holder,
            requested_funds=requested_funds(agent, offer.amounts),
            times=signing.PaymentTimes(
                offer.pay_by_time,
                offer.submit_result_time,
                offer.unlock_time,
                offer.external_dispute_unlock_time,
            ),
            input_hash=offer.input_hash,
        )
    except signing.IdentifierError as error:
        raise field_error(error.field, error.reason) from error


# /start_job ---------------------------------------------------------------------------------


class StartJobAnswer(BaseModel):
    """The MIP-003 /start_job answer of the agreed contract (extra fields are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    blockchain_identifier: str = Field(alias="blockchainIdentifier", max_length=8000)
    pay_by_time: PosixMs = Field(alias="payByTime")
    submit_result_time: PosixMs = Field(alias="submitResultTime")
    unlock_time: PosixMs = Field(alias="unlockTime")
    external_dispute_unlock_time: PosixMs = Field(alias="externalDisputeUnlockTime")
    agent_identifier: str = Field(alias="agentIdentifier", max_length=250)
    seller_vkey: str = Field(alias="sellerVKey", pattern=r"^[0-9a-fA-F]{56}$")
    identifier_from_purchaser: str = Field(alias="identifierFromPurchaser", max_length=26)
    input_hash: str = Field(alias="input_hash", max_length=250, pattern=r"^[0-9a-fA-F]+$")
    amounts: list[dict[str, Any]] | None = None
    quote: dict[str, Any] | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def start_job(
    api_base_url: str,
    identifier_from_purchaser: str,
    input_data: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> StartJobAnswer:
    """POST {api_base_url}/start_job (MIP-003 with the agent kit's optional `buyer`, `option`
    in `extra`); 502 naming what went wrong when the agent fails us."""
    url = api_base_url.rstrip("/") + "/start_job"
    body = {"identifier_from_purchaser": identifier_from_purchaser, "input_data": input_data}
    body.update(extra or {})
    try:
        response = httpx.post(url, json=body, timeout=START_JOB_TIMEOUT)
    except httpx.TimeoutException as error:
        raise _agent_error(f"{url} timed out: {error}") from error
    except httpx.HTTPError as error:
        raise _agent_error(f"{url} is unreachable: {type(error).__name__}: {error}") from error
    if response.status_code >= 300:
        raise _agent_error(f"{url} answered {response.status_code}: {response.text[:300]}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise _agent_error(f"{url} answered more than {MAX_ANSWER_BYTES} bytes")
    try:
        return StartJobAnswer.model_validate(response.json())
    except ValueError as error:
        raise _agent_error(f"{url} answered something else than a job: {_why(error)}") from error


def _why(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    return str(error)


def _agent_error(message: str) -> ApiError:
    return ApiError(502, f"the agent's /start_job: {message}", code="agent_error")
