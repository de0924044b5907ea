"""node.client against a live node over HTTP (SQLite and PostgreSQL): seed 000's pricing and
billing verbs, the public lookup without a key, registry and wallets; every call sends an
X-Request-Id and every object returned carries one; errors name status, code and field."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from sqlmodel import Session

from node.client import REQUEST_ID_HEADER, Amount, PaynodeClient, PaynodeError, within
from node.crypto import SecretBox
from tests.conftest import LiveNode, make_key

AGENT = "ad6424e3ce9e47bbd8364984bd731b41de591f1d11f6d7d43d0da9b9" + "61" * 32
BUYER = "fc16a1fcf309aed03ec18bb2176f5ea29acea70bb79145ebaffa8e75"
PRICING = {
    "pricing_model": "token_based",
    "currency": "USD",
    "enabled": True,
    "base_price": 0.01,  # the seed's floats: sent as the digits they print as
    "token_price_input": Decimal("0.10"),
    "token_price_output": "0.30",
    "minimum_charge": 0.005,
    "listing_summary": "LLM inference agent",
}


class Recorder(httpx.HTTPTransport):
    """The real transport, keeping each request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def admin_client(
    node: LiveNode, session: Session, secret_box: SecretBox, recorder: Recorder
) -> Iterator[PaynodeClient]:
    token = make_key(session, secret_box, canAdmin=True)
    with PaynodeClient(node.url, token, transport=recorder) as client:
        yield client


def test_pricing_verbs_round_trip_with_request_ids(
    admin_client: PaynodeClient, recorder: Recorder
) -> None:
    stored = admin_client.put_billing_pricing(AGENT, PRICING)
    assert stored.pricing_model == "token_based"
    assert stored.base_price == Decimal("0.01") and stored.token_price_input == Decimal("0.10")
    assert stored.minimum_charge == Decimal("0.005")
    read = admin_client.get_billing_pricing(AGENT)
    assert read.token_price_output == Decimal("0.30") and read.enabled is True

    sent_ids = [request.headers[REQUEST_ID_HEADER] for request in recorder.sent]
    assert len(sent_ids) == 2 and len(set(sent_ids)) == 2
    assert [stored.request_id, read.request_id] == sent_ids

    public = admin_client.lookup_public_pricing(AGENT)
    assert "token" not in recorder.sent[-1].headers  # no key on the public lookup
    assert public.agent_identifier == AGENT and public.currency in ("USDM", "tUSDM")
    assert public.plan["mode"] == "Dynamic" and public.request_id is not None

    quote = admin_client.quote_pricing(
        AGENT, BUYER, {"requests": 1, "input_tokens": 1_000_000, "output_tokens": 0},
        request_id="ab" * 32,
    )  # fmt: skip
    assert recorder.sent[-1].headers[REQUEST_ID_HEADER] == "ab" * 32 == quote.request_id
    # 0.01 + 1M input tokens at 0.10 per 1M = 0.11 USDM
    assert quote.amount == 110_000 == quote.reserve
    assert quote.expires_at > quote.created_at
    assert quote.raw["amount"] == "110000"  # the node's JSON as sent


def test_billing_balance_and_usage(admin_client: PaynodeClient, recorder: Recorder) -> None:
    balance = admin_client.get_billing_balance(peer_agent_id=AGENT)
    assert balance.peer_agent_id == AGENT
    assert balance.as_buyer.requests == 0 and balance.as_seller.amounts == []
    assert balance.request_id == recorder.sent[-1].headers[REQUEST_ID_HEADER]
    usage = admin_client.get_billing_usage(peer_agent_id=AGENT, limit=25)
    assert usage.items == [] and usage.next_cursor_id is None
    assert recorder.sent[-1].url.params["limit"] == "25"


def test_registry_and_wallets(admin_client: PaynodeClient) -> None:
    wallet = admin_client.add_wallet("Selling")
    assert wallet.type == "Selling" and len(wallet.wallet_vkey) == 56
    listed = admin_client.list_wallets("Selling")
    assert [w.id for w in listed.wallets] == [wallet.id]
    assert admin_client.list_registry().assets == []
    assert admin_client.health().status == "ok"


def test_errors_name_status_code_and_field(
    node: LiveNode, admin_client: PaynodeClient, session: Session, secret_box: SecretBox
) -> None:
    with pytest.raises(PaynodeError) as refused:
        admin_client.put_billing_pricing(AGENT, {"pricing_model": "token_based", "base_price": -1})
    assert refused.value.status == 422 and refused.value.field is not None
    assert "base_price" in refused.value.field and refused.value.request_id is not None

    with PaynodeClient(node.url) as anonymous, pytest.raises(PaynodeError) as unauthorised:
        anonymous.get_billing_balance()
    assert (unauthorised.value.status, unauthorised.value.code) == (401, "unauthorized")

    read_only = make_key(session, secret_box, permission="Read")
    with PaynodeClient(node.url, read_only) as reader, pytest.raises(PaynodeError) as forbidden:
        reader.put_billing_pricing(AGENT, PRICING)
    assert forbidden.value.status == 403

    with pytest.raises(PaynodeError) as missing:
        admin_client.get_billing_pricing("ee" * 28 + "01")
    assert missing.value.status == 404


def test_a_refused_marketplace_response_is_caught_before_any_call(
    admin_client: PaynodeClient, recorder: Recorder
) -> None:
    with pytest.raises(PaynodeError) as refused:
        admin_client.send_marketplace_response("not-an-identifier", "output")
    assert (refused.value.status, refused.value.field) == (0, "blockchainIdentifier")
    assert recorder.sent == []


def test_within_a_ceiling() -> None:
    usdm = "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad0014df105553444d"
    ceiling = [Amount(amount=5_000_000, unit=usdm)]
    assert within([Amount(amount=5_000_000, unit=usdm)], ceiling)
    assert not within([Amount(amount=5_000_001, unit=usdm)], ceiling)
    assert not within([Amount(amount=1, unit="")], ceiling)
