"""MIP-003 bodies and answers (masumi-protocol.md §15), with the agreed /start_job additions
(`amounts`, `quote`). Times are decimal strings of POSIX ms, amounts decimal strings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["awaiting_payment", "awaiting_input", "running", "completed", "failed"]
FieldType = Literal[
    "none", "text", "textarea", "string", "number", "boolean", "email", "password", "tel", "url",
    "date", "datetime-local", "time", "month", "week", "color", "range", "file", "hidden",
    "search", "checkbox", "radio", "option",
]  # fmt: skip


class Validation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    validation: Literal["min", "max", "format", "accept", "optional"]
    value: str


class InputField(BaseModel):
    """One MIP-003 input field: `validations` bound it (min/max: length or value; optional)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    type: FieldType
    name: str | None = None
    data: dict[str, Any] | None = None
    validations: list[Validation] = Field(default_factory=list)


class InputSchema(BaseModel):
    input_data: list[InputField]


class StartJobRequest(BaseModel):
    """MIP-003's body; `buyer` (payment key hash or agent identifier) and `option` (the price
    tier of a Fixed+prices agent, by index) are optional additions other agents ignore."""

    model_config = ConfigDict(extra="forbid")

    identifier_from_purchaser: str = Field(
        pattern=r"^[0-9a-fA-F]{14,26}$", description="14-26 hex characters"
    )
    input_data: dict[str, Any]
    buyer: str | None = Field(default=None, pattern=r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$")
    option: int | None = Field(default=None, ge=0, le=24)


class AmountOut(BaseModel):
    amount: str
    unit: str


class StartJobResponse(BaseModel):
    """The agreed /start_job answer: MIP-003's fields, what to lock, the seller's quote."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    blockchain_identifier: str = Field(alias="blockchainIdentifier")
    pay_by_time: str = Field(alias="payByTime")
    submit_result_time: str = Field(alias="submitResultTime")
    unlock_time: str = Field(alias="unlockTime")
    external_dispute_unlock_time: str = Field(alias="externalDisputeUnlockTime")
    agent_identifier: str = Field(alias="agentIdentifier")
    seller_vkey: str = Field(alias="sellerVKey")
    identifier_from_purchaser: str = Field(alias="identifierFromPurchaser")
    input_hash: str
    amounts: list[AmountOut]
    quote: dict[str, Any] | None


class StatusResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    job_id: str
    status: JobStatus
    result: str | None = None
    result_hash: str | None = Field(default=None, alias="resultHash")
    message: str | None = None
    blockchain_identifier: str = Field(alias="blockchainIdentifier")
    request_id: str = Field(alias="requestId")
    input_schema: list[InputField] | None = None


class Availability(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    status: Literal["available", "unavailable"]
    type: Literal["masumi-agent"] = "masumi-agent"
    agent_identifier: str | None = Field(alias="agentIdentifier")
    message: str | None = None


class ProvideInputRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(min_length=1, max_length=64)
    status_id: str | None = Field(default=None, max_length=64)
    input_data: dict[str, Any]


class ProvideInputResponse(BaseModel):
    """The input was taken: the job runs again (`running`); `input_hash` is its MIP-004 hash."""

    id: str
    job_id: str
    status: JobStatus
    input_hash: str
