"""A typed client of the node's API, with the verbs of seed 000's SDK.

    with PaynodeClient("http://127.0.0.1:3001", token) as node:
        node.put_billing_pricing(agent, {"pricing_model": "token_based", "token_price_input": 2})
        sent = buyer.send_marketplace_request(agent, {"text": "hello"}, max_amounts=[...])
        seller.send_marketplace_response(sent.blockchain_identifier, "result", usage={...})
        seller.get_billing_usage(peer_agent_id=agent, limit=25).items

Every call sends an `X-Request-Id` header: the job's request id (the 64-hex digest that starts
the blockchainIdentifier) for calls about a job, else a fresh one. Every object returned carries
it as `request_id` (a row's own `requestId` when the node gives one). Amounts and times are ints
(the node sends decimal strings); prices of the seed's pricing document are Decimals, never
floats. An error answer raises PaynodeError with the status, code, message and field.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Annotated, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator
from pydantic.alias_generators import to_camel

from node.payments.hashes import jcs, result_hash
from node.payments.identifier import IdentifierError, decode_blockchain_identifier
from node.pricing.assmbl import BillingPricingPayload

REQUEST_ID_HEADER = "X-Request-Id"
API = "/api/v1"
DiffFeed = Literal["", "next-action", "onchain-state-or-result"]


def _feed(feed: DiffFeed) -> str:
    return f"/{feed}" if feed else ""


DEFAULT_TIMEOUT_S = 30.0
# Idle connections are dropped well before a server would close them (uvicorn after 5 s, as
# httpx's own default): a request sent on a connection the server is closing at that moment
# fails with "Server disconnected without sending a response" (seen polling two replicas).
LIMITS = httpx.Limits(keepalive_expiry=2.0)

ModelT = TypeVar("ModelT", bound=BaseModel)


class PaynodeError(Exception):
    """An error answer of the node (status 0: refused by the client before any call)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id
        self.body = body


def new_request_id() -> str:
    return secrets.token_hex(16)


def request_id_of(blockchain_identifier: str) -> str | None:
    """The job's request id: the first 64 hex of the identifier's seller id."""
    try:
        return decode_blockchain_identifier(blockchain_identifier).request_id
    except IdentifierError:
        return None


def _integer(value: object) -> int:
    """Amounts and times travel as decimal strings; a float or a fraction is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("must be an integer or its decimal string")
    return int(value)


Int = Annotated[int, BeforeValidator(_integer)]


# --- typed answers -------------------------------------------------------------------------


class Row(BaseModel):
    """An answer object: its declared fields typed, every other field kept (`model_extra`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    request_id: str | None = Field(default=None, alias="requestId")
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def raw(self) -> dict[str, Any]:
        """The object exactly as the node sent it."""
        return self._raw


class Amount(BaseModel):
    amount: Int
    unit: str

    def wire(self) -> dict[str, str]:
        return {"amount": str(self.amount), "unit": self.unit}


class Health(Row):
    status: str
    network: str
    version: str


class SellerQuote(Row):
    """The seller node's pricing quote: `reserve` is what the buyer locks."""

    id: str
    agent_identifier: str
    buyer: str
    unit: str
    amount: Int
    reserve: Int
    amounts: list[Amount]
    breakdown: list[dict[str, Any]]
    total: str
    expires_at: Int
    created_at: Int


class PublicPricing(Row):
    agent_identifier: str
    shape: str
    currency: str
    plan: dict[str, Any]
    listing: dict[str, Any]
    display: list[dict[str, Any]]


class BillingPricing(BillingPricingPayload):
    """Seed 000's BillingPricingPayload as the node stores it, with the call's request id."""

    request_id: str | None = None


class BalanceLine(Row):
    unit: str
    locked: Int
    charged: Int
    refunded: Int
    protocol_fees: Int
    tx_fees: Int


class BalanceSide(BaseModel):
    requests: Int
    amounts: list[BalanceLine]


class Balance(Row):
    peer_agent_id: str | None
    as_buyer: BalanceSide
    as_seller: BalanceSide


class UsageRow(Row):
    id: str
    blockchain_identifier: str
    agent_identifier: str
    role: str
    on_chain_state: str | None
    reserved: list[Amount]
    charged: list[Amount]
    refunded: list[Amount]
    protocol_fees: list[Amount]
    buyer_tx_fees: Int
    seller_tx_fees: Int
    tx_hashes: list[str]


class UsagePage(Row):
    items: list[UsageRow]
    next_cursor_id: str | None


class NextAction(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    requested_action: str
    error_type: str | None = None
    error_note: str | None = None


class WalletRef(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    wallet_vkey: str
    wallet_address: str | None = None


class _Job(Row):
    """What payments, purchases and quotes share: the identifier and the four deadlines."""

    blockchain_identifier: str
    agent_identifier: str
    pay_by_time: Int
    submit_result_time: Int
    unlock_time: Int
    external_dispute_unlock_time: Int
    input_hash: str

    @model_validator(mode="after")
    def _request_id(self) -> _Job:
        if self.request_id is None:
            self.request_id = request_id_of(self.blockchain_identifier)
        return self


class Payment(_Job):
    """Seller side: Masumi's payment object."""

    id: str
    on_chain_state: str | None = None
    result_hash: str | None = None
    next_action: NextAction = Field(alias="NextAction")
    requested_funds: list[Amount] | None = Field(default=None, alias="RequestedFunds")
    smart_contract_wallet: WalletRef | None = Field(default=None, alias="SmartContractWallet")
    quote_id: str | None = None
    identifier_from_purchaser: str | None = None
    usage: dict[str, Int] | None = None
    charge: Amount | None = None  # what a metered job was charged, once its result is in
    updated_at: str | None = None


class Purchase(_Job):
    """Buyer side: Masumi's purchase object."""

    id: str
    on_chain_state: str | None = None
    result_hash: str | None = None
    next_action: NextAction = Field(alias="NextAction")
    paid_funds: list[Amount] = Field(default_factory=list, alias="PaidFunds")
    quote_id: str | None = None
    updated_at: str | None = None


class BuyerQuote(_Job):
    """The buyer node's verified offer from an agent's /start_job: confirm it to purchase."""

    id: str
    network: str
    pricing_mode: str
    job_id: str
    amounts: list[Amount]
    seller_vkey: str
    identifier_from_purchaser: str
    seller_quote: dict[str, Any] | None = None
    expires_at: Int
    verified: bool


class DisputeResolution(Row):
    """An admin resolution of a dispute: the WithdrawDisputed sent, or to be signed."""

    blockchain_identifier: str
    tx_hash: str
    status: str
    tx_cbor: str | None = None
    required_signers: list[str] = Field(default_factory=list)
    required_signatures: int = 0

    @model_validator(mode="after")
    def _request_id(self) -> DisputeResolution:
        if self.request_id is None:
            self.request_id = request_id_of(self.blockchain_identifier)
        return self


class PaymentPage(Row):
    payments: list[Payment] = Field(alias="Payments")
    next_cursor_id: str | None = None


class PurchasePage(Row):
    purchases: list[Purchase] = Field(alias="Purchases")
    next_cursor_id: str | None = None


class Count(Row):
    total: int


class RegistryEntry(Row):
    id: str
    state: str
    name: str
    api_base_url: str
    pricing_mode: str
    agent_identifier: str | None
    smart_contract_wallet: WalletRef = Field(alias="SmartContractWallet")
    error: str | None = None


class RegistryPage(Row):
    assets: list[RegistryEntry] = Field(alias="Assets")
    next_cursor_id: str | None = None


class OnchainAgent(Row):
    agent_identifier: str
    holder: str | None
    metadata: dict[str, Any] | None = Field(alias="Metadata")
    violations: list[dict[str, Any]]


class HotWallet(Row):
    id: str
    type: str
    network: str
    wallet_vkey: str
    wallet_address: str


class HotWalletPage(Row):
    wallets: list[HotWallet] = Field(alias="Wallets")
    next_cursor_id: str | None = None


class MarketplaceRequest(Row):
    """What send_marketplace_request did: the quote the buyer confirmed and the purchase."""

    quote: BuyerQuote
    purchase: Purchase

    @property
    def blockchain_identifier(self) -> str:
        return self.purchase.blockchain_identifier


# --- the client ----------------------------------------------------------------------------


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _error(response: httpx.Response, request_id: str, body: Any) -> PaynodeError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return PaynodeError(
            response.status_code, "http_error", response.text[:500], None, request_id
        )
    fields = error.get("fields") or []
    return PaynodeError(
        response.status_code,
        str(error.get("code", "error")),
        str(error.get("message", "")),
        fields[0] if fields else None,
        request_id,
        body,
    )


def within(amounts: Sequence[Amount], ceiling: Sequence[Amount]) -> bool:
    """Every amount's unit has a ceiling and the amount is at most that ceiling."""
    limits = {limit.unit: limit.amount for limit in ceiling}
    return all(a.unit in limits and a.amount <= limits[a.unit] for a in amounts)


class PaynodeClient:
    """One node, one API key (`token`), one network (Masumi's display name: Devnet, Preprod…)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        network: str = "Devnet",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.network = network
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, transport=transport, limits=LIMITS
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PaynodeClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- transport ---

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        auth: bool = True,
    ) -> tuple[Any, str]:
        """The `data` of the envelope and the request id sent; an error answer raises."""
        rid = request_id or new_request_id()
        headers = {REQUEST_ID_HEADER: rid}
        if auth and self.token is not None:
            headers["token"] = self.token
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, default=_json_default)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = self._http.request(method, path, content=content, params=query, headers=headers)
        try:
            payload = response.json(parse_float=Decimal)
        except ValueError:
            payload = None
        if response.status_code >= 400 or not isinstance(payload, dict):
            raise _error(response, rid, payload)
        return payload.get("data"), rid

    def _typed(self, model: type[ModelT], data: Any, rid: str) -> ModelT:
        typed = model.model_validate(data)
        if getattr(typed, "request_id", "") is None:
            typed.request_id = rid  # type: ignore[attr-defined]
        if isinstance(typed, Row) and isinstance(data, dict):
            typed._raw = data
        return typed

    def _get(self, model: type[ModelT], path: str, **kwargs: Any) -> ModelT:
        data, rid = self.call("GET", path, **kwargs)
        return self._typed(model, data, rid)

    def _post(self, model: type[ModelT], path: str, **kwargs: Any) -> ModelT:
        data, rid = self.call("POST", path, **kwargs)
        return self._typed(model, data, rid)

    def _job_call(self, model: type[ModelT], path: str, bi: str, **fields: Any) -> ModelT:
        body = {"network": self.network, "blockchainIdentifier": bi, **fields}
        return self._post(model, path, body=body, request_id=request_id_of(bi))

    def health(self) -> Health:
        return self._get(Health, f"{API}/health", auth=False)

    # --- seed 000: pricing ---

    def get_billing_pricing(self, agent_identifier: str) -> BillingPricing:
        params = {"agentIdentifier": agent_identifier}
        return self._get(BillingPricing, f"{API}/billing/pricing", params=params)

    def put_billing_pricing(
        self, agent_identifier: str, pricing: Mapping[str, Any]
    ) -> BillingPricing:
        """Set the agent's pricing (admin key); numbers may be ints, Decimals, decimal strings or
        the seed's floats (sent as the digits they print as)."""
        data, rid = self.call(
            "PUT",
            f"{API}/billing/pricing",
            body=pricing,
            params={"agentIdentifier": agent_identifier},
        )
        return self._typed(BillingPricing, data, rid)

    def lookup_public_pricing(self, agent_identifier: str) -> PublicPricing:
        """No key needed."""
        path = f"{API}/public/pricing/{agent_identifier}"
        return self._get(PublicPricing, path, auth=False)

    def quote_pricing(
        self,
        agent_identifier: str,
        buyer: str,
        usage: Mapping[str, int | str] | None = None,
        option: str | None = None,
        request_id: str | None = None,
    ) -> SellerQuote:
        """The seller node's public quote for a usage estimate (no key needed)."""
        body: dict[str, Any] = {"buyer": buyer, "usage": dict(usage or {})}
        if option is not None:
            body["option"] = option
        path = f"{API}/public/pricing/{agent_identifier}/quote"
        return self._post(SellerQuote, path, body=body, auth=False, request_id=request_id)

    # --- seed 000: billing ---

    def get_billing_balance(self, peer_agent_id: str | None = None) -> Balance:
        params = {"peer_agent_id": peer_agent_id}
        return self._get(Balance, f"{API}/billing/balance", params=params)

    def get_billing_usage(
        self, peer_agent_id: str | None = None, limit: int = 10, cursor_id: str | None = None
    ) -> UsagePage:
        """Requests with the peer, most recent first; each row has its job's request id."""
        params = {"peer_agent_id": peer_agent_id, "limit": limit, "cursorId": cursor_id}
        return self._get(UsagePage, f"{API}/billing/usage", params=params)

    # --- seed 000: the buyer's and the seller's sends ---

    def send_marketplace_request(
        self,
        agent_identifier: str,
        input_data: Mapping[str, Any],
        *,
        identifier_from_purchaser: str | None = None,
        max_amounts: Sequence[Amount] | None = None,
        confirm: Callable[[BuyerQuote], bool] | None = None,
        metadata: str | None = None,
        option: int | None = None,
    ) -> MarketplaceRequest:
        """Buyer: a quote from the agent (through the buyer node), the buyer's confirmation (the
        amounts within `max_amounts`, and `confirm(quote)` if given), then the purchase that
        locks those exact amounts. Refused before purchasing: PaynodeError(0, "not_confirmed").
        `option`: the price tier of a Fixed+prices agent, by index."""
        quote = self.create_quote(
            agent_identifier, input_data, identifier_from_purchaser, option=option
        )
        if max_amounts is not None and not within(quote.amounts, max_amounts):
            raise PaynodeError(
                0, "not_confirmed", "the quote exceeds max_amounts", "amounts", quote.request_id
            )
        if confirm is not None and not confirm(quote):
            raise PaynodeError(0, "not_confirmed", "the buyer declined the quote", None)
        purchase = self.purchase_quote(quote, metadata=metadata)
        return MarketplaceRequest(quote=quote, purchase=purchase, request_id=quote.request_id)

    def send_marketplace_response(
        self,
        blockchain_identifier: str,
        output: str | Mapping[str, Any],
        *,
        usage: Mapping[str, int | str] | None = None,
    ) -> Payment:
        """Seller: submit the result's MIP-004 hash (the purchaser id is read from the
        identifier) and, for metered plans, the measured usage the charge is settled on."""
        try:
            purchaser = decode_blockchain_identifier(blockchain_identifier).purchaser_id
        except IdentifierError as error:
            raise PaynodeError(0, "invalid_field", str(error), "blockchainIdentifier") from error
        text = output if isinstance(output, str) else jcs(dict(output))
        return self.submit_result(blockchain_identifier, result_hash(purchaser, text), usage=usage)

    # --- payments (seller) ---

    def create_payment(
        self,
        agent_identifier: str,
        input_hash: str,
        identifier_from_purchaser: str,
        *,
        requested_funds: Sequence[Amount] | None = None,
        quote_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Payment:
        body: dict[str, Any] = {
            "network": self.network,
            "agentIdentifier": agent_identifier,
            "inputHash": input_hash,
            "identifierFromPurchaser": identifier_from_purchaser,
            **(extra or {}),
        }
        if requested_funds is not None:
            body["RequestedFunds"] = [amount.wire() for amount in requested_funds]
        if quote_id is not None:
            body["quoteId"] = quote_id
        return self._post(Payment, f"{API}/payment", body=body)

    def _filters(
        self, on_chain_state: str | None, needs_manual_action: bool, search: str | None
    ) -> dict[str, Any]:
        return {
            "network": self.network,
            "filterOnChainState": on_chain_state,
            "filterNeedsManualAction": "true" if needs_manual_action else None,
            "searchQuery": search,
        }

    def list_payments(
        self,
        limit: int = 10,
        cursor_id: str | None = None,
        on_chain_state: str | None = None,
        *,
        needs_manual_action: bool = False,
        search: str | None = None,
    ) -> PaymentPage:
        params = {
            **self._filters(on_chain_state, needs_manual_action, search),
            "limit": limit,
            "cursorId": cursor_id,
        }
        return self._get(PaymentPage, f"{API}/payment", params=params)

    def count_payments(
        self,
        on_chain_state: str | None = None,
        *,
        needs_manual_action: bool = False,
        search: str | None = None,
    ) -> int:
        params = self._filters(on_chain_state, needs_manual_action, search)
        return self._get(Count, f"{API}/payment/count", params=params).total

    def payment_diff(
        self,
        last_update: int | str = 0,
        cursor_id: str | None = None,
        limit: int = 10,
        feed: DiffFeed = "",
    ) -> PaymentPage:
        """Payments changed since `last_update` (POSIX ms or ISO 8601), oldest change first;
        the next page: the last row's `updated_at` and `id` (as `cursor_id`). `feed`: any
        change, "next-action" or "onchain-state-or-result"."""
        params = self._diff(last_update, cursor_id, limit)
        return self._get(PaymentPage, f"{API}/payment/diff{_feed(feed)}", params=params)

    def resolve_payment(self, blockchain_identifier: str, include_history: bool = False) -> Payment:
        path = f"{API}/payment/resolve-blockchain-identifier"
        return self._job_call(Payment, path, blockchain_identifier, includeHistory=include_history)

    def submit_result(
        self,
        blockchain_identifier: str,
        submit_result_hash: str,
        *,
        usage: Mapping[str, int | str] | None = None,
    ) -> Payment:
        fields: dict[str, Any] = {"submitResultHash": submit_result_hash}
        if usage is not None:
            fields["usage"] = dict(usage)
        path = f"{API}/payment/submit-result"
        return self._job_call(Payment, path, blockchain_identifier, **fields)

    def authorize_refund(self, blockchain_identifier: str) -> Payment:
        path = f"{API}/payment/authorize-refund"
        return self._job_call(Payment, path, blockchain_identifier)

    def payment_error_recovery(self, blockchain_identifier: str, updated_at: str) -> Payment:
        path = f"{API}/payment/error-state-recovery"
        return self._job_call(Payment, path, blockchain_identifier, updatedAt=updated_at)

    def resolve_dispute(
        self,
        blockchain_identifier: str,
        seller_amounts: Sequence[Amount],
        buyer_amounts: Sequence[Amount],
    ) -> DisputeResolution:
        """Admins split a Disputed escrow after its external dispute unlock time
        (WithdrawDisputed; on the devnet the node signs with the devnet's admin keys)."""
        path = f"{API}/payment/resolve-dispute"
        return self._job_call(
            DisputeResolution,
            path,
            blockchain_identifier,
            sellerAmounts=[amount.wire() for amount in seller_amounts],
            buyerAmounts=[amount.wire() for amount in buyer_amounts],
        )

    def submit_dispute(self, tx_cbor: str, witnesses: Sequence[str]) -> DisputeResolution:
        """Send a WithdrawDisputed the admins signed (their vkey witnesses, CBOR hex)."""
        body = {"network": self.network, "txCbor": tx_cbor, "witnesses": list(witnesses)}
        return self._post(DisputeResolution, f"{API}/payment/resolve-dispute/submit", body=body)

    # --- quotes and purchases (buyer) ---

    def create_quote(
        self,
        agent_identifier: str,
        input_data: Mapping[str, Any],
        identifier_from_purchaser: str | None = None,
        *,
        option: int | None = None,
        buyer: str | None = None,
    ) -> BuyerQuote:
        """The agent's offer through the buyer node. `option`: the price tier of a Fixed+prices
        agent, by index (0 when left out); `buyer`: who buys, for a Dynamic agent's quote."""
        body: dict[str, Any] = {
            "network": self.network,
            "agentIdentifier": agent_identifier,
            "inputData": dict(input_data),
        }
        if identifier_from_purchaser is not None:
            body["identifierFromPurchaser"] = identifier_from_purchaser
        if option is not None:
            body["option"] = option
        if buyer is not None:
            body["buyer"] = buyer
        return self._post(BuyerQuote, f"{API}/quotes", body=body)

    def purchase_quote(self, quote: BuyerQuote, *, metadata: str | None = None) -> Purchase:
        """POST /purchase with the quote's fields and its amounts confirmed as they are."""
        amounts = [amount.wire() for amount in quote.amounts] or None
        body: dict[str, Any] = {
            "blockchainIdentifier": quote.blockchain_identifier,
            "network": self.network,
            "inputHash": quote.input_hash,
            "sellerVkey": quote.seller_vkey,
            "agentIdentifier": quote.agent_identifier,
            "identifierFromPurchaser": quote.identifier_from_purchaser,
            "payByTime": str(quote.pay_by_time),
            "submitResultTime": str(quote.submit_result_time),
            "unlockTime": str(quote.unlock_time),
            "externalDisputeUnlockTime": str(quote.external_dispute_unlock_time),
            "Amounts": amounts,
            "quoteId": quote.id,
            "confirmedAmounts": amounts,
            "metadata": metadata,
        }
        body = {key: value for key, value in body.items() if value is not None}
        return self.create_purchase(body, request_id=quote.request_id)

    def create_purchase(self, body: Mapping[str, Any], request_id: str | None = None) -> Purchase:
        bi = str(body.get("blockchainIdentifier", ""))
        rid = request_id or request_id_of(bi)
        return self._post(Purchase, f"{API}/purchase", body=body, request_id=rid)

    def list_purchases(
        self,
        limit: int = 10,
        cursor_id: str | None = None,
        on_chain_state: str | None = None,
        *,
        needs_manual_action: bool = False,
        search: str | None = None,
    ) -> PurchasePage:
        params = {
            **self._filters(on_chain_state, needs_manual_action, search),
            "limit": limit,
            "cursorId": cursor_id,
        }
        return self._get(PurchasePage, f"{API}/purchase", params=params)

    def count_purchases(
        self,
        on_chain_state: str | None = None,
        *,
        needs_manual_action: bool = False,
        search: str | None = None,
    ) -> int:
        params = self._filters(on_chain_state, needs_manual_action, search)
        return self._get(Count, f"{API}/purchase/count", params=params).total

    def purchase_diff(
        self,
        last_update: int | str = 0,
        cursor_id: str | None = None,
        limit: int = 10,
        feed: DiffFeed = "",
    ) -> PurchasePage:
        """Purchases changed since `last_update` (POSIX ms or ISO 8601), oldest change first;
        the next page: the last row's `updated_at` and `id` (as `cursor_id`). `feed`: any
        change, "next-action" or "onchain-state-or-result"."""
        params = self._diff(last_update, cursor_id, limit)
        return self._get(PurchasePage, f"{API}/purchase/diff{_feed(feed)}", params=params)

    def _diff(self, last_update: int | str, cursor_id: str | None, limit: int) -> dict[str, Any]:
        return {
            "network": self.network,
            "lastUpdate": str(last_update),
            "cursorId": cursor_id,
            "limit": limit,
        }

    def resolve_purchase(
        self, blockchain_identifier: str, include_history: bool = False
    ) -> Purchase:
        path = f"{API}/purchase/resolve-blockchain-identifier"
        return self._job_call(Purchase, path, blockchain_identifier, includeHistory=include_history)

    def request_refund(self, blockchain_identifier: str) -> Purchase:
        return self._job_call(Purchase, f"{API}/purchase/request-refund", blockchain_identifier)

    def cancel_refund_request(self, blockchain_identifier: str) -> Purchase:
        path = f"{API}/purchase/cancel-refund-request"
        return self._job_call(Purchase, path, blockchain_identifier)

    # --- registry and wallets ---

    def register_agent(self, body: Mapping[str, Any]) -> RegistryEntry:
        """Seed 002's POST /api/agents (pricingMode, amounts, name, apiBaseUrl, …)."""
        return self._post(RegistryEntry, "/api/agents", body=body)

    def list_registry(
        self,
        limit: int = 10,
        cursor_id: str | None = None,
        status: str | None = None,
        agent_identifier: str | None = None,
    ) -> RegistryPage:
        params = {
            "network": self.network,
            "limit": limit,
            "cursorId": cursor_id,
            "filterStatus": status,
            "filterAgentIdentifier": agent_identifier,
        }
        return self._get(RegistryPage, f"{API}/registry", params=params)

    def onchain_agent(self, agent_identifier: str) -> OnchainAgent:
        params = {"agentIdentifier": agent_identifier, "network": self.network}
        return self._get(OnchainAgent, f"{API}/registry/agent-identifier", params=params)

    def add_wallet(self, wallet_type: str, mnemonic: str | None = None) -> HotWallet:
        """A hot wallet (admin key): Selling or Purchasing, generated unless a mnemonic is given."""
        body: dict[str, Any] = {"type": wallet_type}
        if mnemonic is not None:
            body["walletMnemonic"] = mnemonic
        return self._post(HotWallet, f"{API}/wallet", body=body)

    def list_wallets(self, wallet_type: str | None = None, limit: int = 10) -> HotWalletPage:
        params = {"type": wallet_type, "limit": limit}
        return self._get(HotWalletPage, f"{API}/wallet/list", params=params)
