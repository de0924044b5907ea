"""The submitter on a devnet over HTTP and a real database: intents recorded before sending,
outcomes resolved from the chain, the same bytes re-sent, racing spenders kept apart."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from pycardano import Transaction, TransactionBuilder, TransactionOutput
from pytest_mock import MockerFixture
from sqlalchemy import Engine
from sqlmodel import Session, select

from devnet.server import DevnetServer
from node.chain.blockfrost import BlockfrostChain
from node.chain.builders import BuiltTx
from node.chain.context import PortChainContext
from node.chain.submitter import Submitter
from node.config import load_profile
from node.crypto import SecretBox
from node.wallets import service
from node.wallets.keys import WalletKeys, generate_mnemonic
from node.wallets.models import HotWallet, TxStatus, WalletTransaction
from node.wallets.schemas import WalletCreate
from tests.devnet.http_helpers import faucet
from tests.node.chain.test_blockfrost_chain import FaultyTransport, faulty_chain

ADA = 1_000_000


class Crash(BaseException):
    """The process dies here (not an Exception: nothing may catch it on the way out)."""


def new_wallet(
    session: Session, box: SecretBox, http: httpx.Client, utxos: int = 1
) -> tuple[HotWallet, WalletKeys]:
    request = WalletCreate.model_validate(
        {"type": "Purchasing", "walletMnemonic": generate_mnemonic()}
    )
    wallet = service.add_wallet(session, box, load_profile("devnet"), request)
    for _ in range(utxos):
        faucet(http, wallet.address, 50 * ADA)
    return wallet, service.wallet_keys(box, wallet, 0)


def transfer(keys: WalletKeys, lovelace: int = 3 * ADA) -> Callable[[PortChainContext], BuiltTx]:
    def build(context: PortChainContext) -> BuiltTx:
        builder = TransactionBuilder(context)
        builder.add_input_address(keys.address)
        builder.add_output(TransactionOutput.from_primitive([keys.address, lovelace]))
        builder.ttl = context.last_block_slot + 600
        tx = builder.build_and_sign([keys.payment_signing_key], change_address=keys.address)
        spent = tuple(
            (i.transaction_id.payload.hex(), int(i.index)) for i in tx.transaction_body.inputs
        )
        return BuiltTx(tx, "Transfer", ("ab" * 32,), spent)

    return build


def row(engine: Engine, tx_hash: str) -> WalletTransaction:
    with Session(engine) as session:
        return session.exec(
            select(WalletTransaction).where(WalletTransaction.tx_hash == tx_hash)
        ).one()


def on_chain(chain: BlockfrostChain, tx_hash: str) -> bool:
    from node.chain.port import ChainNotFound

    try:
        chain.transaction(tx_hash)
    except ChainNotFound:
        return False
    return True


def test_crash_between_signing_and_sending_is_recovered_with_the_same_bytes(
    engine: Engine, session: Session, secret_box: SecretBox, chain: BlockfrostChain,
    devnet_http: httpx.Client, mocker: MockerFixture,
) -> None:  # fmt: skip
    wallet, keys = new_wallet(session, secret_box, devnet_http)
    built = transfer(keys)(PortChainContext(chain, 0))
    journal = service.WalletJournal(engine, wallet.id)
    mocker.patch.object(chain, "submit", side_effect=Crash)
    with pytest.raises(Crash):
        Submitter(chain, journal).submit(built)
    mocker.stopall()
    recorded = row(engine, built.tx_hash)
    assert recorded.status == TxStatus.SIGNED and recorded.signed_cbor == built.cbor
    assert not on_chain(chain, built.tx_hash)
    before = chain.requests.snapshot().get("POST /tx/submit", 0)
    outcomes = Submitter(chain, service.WalletJournal(engine, wallet.id)).resolve()  # restart
    assert [(o.tx_hash, o.status) for o in outcomes] == [(built.tx_hash, "Submitted")]
    assert chain.requests.snapshot()["POST /tx/submit"] == before + 1
    assert on_chain(chain, built.tx_hash)
    assert Submitter(chain, journal).resolve()[0].status == "Confirmed"
    assert Submitter(chain, journal).resolve() == []


def test_timeout_while_the_tx_lands_is_resolved_without_a_second_spend(
    engine: Engine, session: Session, secret_box: SecretBox, chain: BlockfrostChain,
    chain_devnet: DevnetServer, devnet_http: httpx.Client,
) -> None:  # fmt: skip
    wallet, keys = new_wallet(session, secret_box, devnet_http, utxos=2)
    timeout = lambda request: httpx.ReadTimeout("answer lost", request=request)  # noqa: E731
    transport = FaultyTransport([])
    flaky = faulty_chain(chain_devnet, transport)
    context = PortChainContext(flaky, 0)
    built = transfer(keys)(context)
    transport.faults.append(timeout)
    outcome = Submitter(flaky, service.WalletJournal(engine, wallet.id)).submit(built)
    assert outcome.status == "OutcomeUnknown"
    assert transport.delivered == 1  # it did reach the devnet
    reserved = service.pending_inputs(engine, wallet.id)
    assert {(bytes.fromhex(h), i) for h, i in built.spent} <= reserved
    # The next spend from this wallet does not touch the reserved inputs.
    context.excluded = reserved
    assert (
        not {
            (bytes(u.input.transaction_id.payload), u.input.index)
            for u in context.utxos(keys.address)
        }
        & reserved
    )
    resolved = Submitter(flaky, service.WalletJournal(engine, wallet.id)).resolve()
    assert [o.status for o in resolved] == ["Confirmed"]
    assert transport.seen.count("POST /api/v0/tx/submit") == 1


def test_a_rejected_transaction_frees_its_inputs(
    engine: Engine, session: Session, secret_box: SecretBox, chain: BlockfrostChain,
    devnet_http: httpx.Client,
) -> None:  # fmt: skip
    wallet, keys = new_wallet(session, secret_box, devnet_http)
    first = transfer(keys)(PortChainContext(chain, 0))
    twin = transfer(keys, 4 * ADA)(PortChainContext(chain, 0))  # same inputs, other outputs
    journal = service.WalletJournal(engine, wallet.id)
    assert Submitter(chain, journal).submit(first).status == "Submitted"
    rejected = Submitter(chain, journal).submit(twin)
    assert rejected.status == "Rejected" and rejected.error
    assert row(engine, twin.tx_hash).status == TxStatus.REJECTED


def test_a_signed_transaction_past_its_ttl_expires(
    engine: Engine, session: Session, secret_box: SecretBox, chain: BlockfrostChain,
    devnet_http: httpx.Client,
) -> None:  # fmt: skip
    wallet, keys = new_wallet(session, secret_box, devnet_http)
    built = transfer(keys)(PortChainContext(chain, 0))
    journal = service.WalletJournal(engine, wallet.id)
    journal.record(built)  # signed, then the node was down for longer than the TTL
    devnet_http.post("/devnet/time", json={"advance_seconds": 700})
    devnet_http.post("/devnet/blocks", json={"count": 1})
    assert [o.status for o in Submitter(chain, journal).resolve()] == ["Expired"]
    assert service.pending_inputs(engine, wallet.id) == set()


def test_two_spenders_racing_for_one_wallet_both_land(
    engine: Engine, session: Session, secret_box: SecretBox, chain: BlockfrostChain,
    devnet_http: httpx.Client,
) -> None:  # fmt: skip
    wallet, keys = new_wallet(session, secret_box, devnet_http, utxos=3)
    outcomes: list[str] = []

    def spend() -> None:
        outcome = service.spend_from_wallet(
            engine, chain, wallet.id, 0, transfer(keys, 10 * ADA), lock_timeout_ms=60_000
        )
        outcomes.append(outcome.status)
        assert on_chain(chain, outcome.tx_hash)

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["Submitted", "Submitted"]
    with Session(engine) as session_:
        rows = session_.exec(
            select(WalletTransaction).where(WalletTransaction.wallet_id == wallet.id)
        ).all()
    spent = [ref for r in rows for ref in r.spent_inputs]
    assert len(spent) == len(set(spent))  # no input spent twice


def test_decoded_cbor_is_what_was_recorded(
    engine: Engine,
    session: Session,
    secret_box: SecretBox,
    chain: BlockfrostChain,
    devnet_http: httpx.Client,
) -> None:
    wallet, keys = new_wallet(session, secret_box, devnet_http)
    outcome = service.spend_from_wallet(
        engine, chain, wallet.id, 0, transfer(keys), lock_timeout_ms=60_000
    )
    stored = row(engine, outcome.tx_hash)
    assert Transaction.from_cbor(stored.signed_cbor).id.payload.hex() == outcome.tx_hash
    assert stored.kind == "Transfer" and stored.request_ids == ["ab" * 32] and stored.fee > 0
