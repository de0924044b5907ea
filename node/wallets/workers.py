"""The wallets' worker steps: the low-balance watch (WALLET_LOW_BALANCE, masumi-protocol.md §9.3),
and the journal's transactions a previous node process left unresolved.

Every hot wallet of the network has its lovelace read at most once per
PAYNODE_WALLET_BALANCE_INTERVAL_S; one below PAYNODE_WALLET_LOW_BALANCE_LOVELACE sends the event
once (in the transaction that records it, with the wallet's row locked so replicas send it once),
and again only after a later read found it at or above the threshold.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from node.chain.port import ChainError, ChainPort
from node.chain.submitter import UNRESOLVED
from node.clock import now_ms
from node.config import NetworkProfile
from node.runtime import Runtime
from node.wallets.models import HotWallet, WalletTransaction
from node.wallets.service import resolve_journals
from node.webhooks.models import WebhookEvent
from node.webhooks.service import emit

logger = logging.getLogger(__name__)

PROCESS_STARTED_MS = now_ms()  # a journal entry last touched before this was left by another


def lovelace_of(chain: ChainPort, address: str) -> int:
    """The lovelace a wallet's address holds, as the chain shows it now."""
    return sum(int(utxo.output.amount.coin) for utxo in chain.utxos_at(address))


def low_balance_data(
    wallet: HotWallet, profile: NetworkProfile, lovelace: int, threshold: int
) -> dict[str, Any]:
    """WALLET_LOW_BALANCE's `data`: the wallet, what it holds and the threshold it fell below."""
    return {
        "id": wallet.id,
        "network": profile.display_name,
        "walletType": str(wallet.type),
        "walletVkey": wallet.payment_key_hash,
        "walletAddress": wallet.address,
        "balance": [{"unit": "lovelace", "amount": str(lovelace)}],
        "thresholdLovelace": str(threshold),
        "message": f"{wallet.type} wallet {wallet.address} holds {lovelace} lovelace, "
        f"below {threshold}",
    }


def check_wallet_balances(runtime: Runtime, *, interval_ms: int | None = None) -> int:
    """Worker step: read the balance of every hot wallet not read for `interval_ms` (the
    setting by default); one that fell below PAYNODE_WALLET_LOW_BALANCE_LOVELACE sends
    WALLET_LOW_BALANCE once, and again only after it held the threshold at a later read.
    The number of events queued."""
    threshold = runtime.settings.wallet_low_balance_lovelace
    if runtime.chain is None or threshold <= 0:
        return 0
    every = (
        runtime.settings.wallet_balance_interval_s * 1000 if interval_ms is None else interval_ms
    )
    network, sent = runtime.profile.name, 0
    with Session(runtime.engine) as session:
        due = session.exec(
            select(HotWallet.id)
            .where(HotWallet.network == network)
            .where(
                or_(
                    col(HotWallet.balance_checked_at).is_(None),
                    col(HotWallet.balance_checked_at) <= now_ms() - every,
                )
            )
            .order_by(col(HotWallet.id))
        ).all()
    for wallet_id in due:
        try:
            sent += _check_balance(runtime, wallet_id, threshold)
        except ChainError as error:
            logger.warning("wallet %s: balance not readable: %s", wallet_id, error)
    return sent


def _check_balance(runtime: Runtime, wallet_id: str, threshold: int) -> int:
    assert runtime.chain is not None
    with Session(runtime.engine) as session:
        wallet = session.exec(
            select(HotWallet).where(HotWallet.id == wallet_id).with_for_update(skip_locked=True)
        ).first()
        if wallet is None:
            return 0  # another replica reads it now
        lovelace = lovelace_of(runtime.chain, wallet.address)
        now = now_ms()
        wallet.balance_checked_at = now
        sent = 0
        if lovelace < threshold and wallet.low_balance_since is None:
            wallet.low_balance_since = now
            data = low_balance_data(wallet, runtime.profile, lovelace, threshold)
            emit(session, WebhookEvent.WALLET_LOW_BALANCE, data)
            logger.warning("%s", data["message"])
            sent = 1
        elif lovelace >= threshold:
            wallet.low_balance_since = None
        session.add(wallet)
        session.commit()
        return sent


def resolve_after_restart(runtime: Runtime) -> int:
    """Worker step: the journal entries still unresolved that were last touched before this
    process started. Their process died between recording and marking them (after signing,
    after Blockfrost accepted, on an unknown outcome); nobody is about to send them, so the
    submitter settles them from chain facts now and re-sends only their same signed bytes,
    instead of waiting for the payments' and purchases' staleness delay. A re-sent entry is
    marked again (after this start) and left to those steps. The wallets resolved."""
    if runtime.chain is None:
        return 0
    with Session(runtime.engine) as session:
        wallet_ids = session.exec(
            select(WalletTransaction.wallet_id)
            .join(HotWallet, col(HotWallet.id) == col(WalletTransaction.wallet_id))
            .where(HotWallet.network == runtime.profile.name)
            .where(col(WalletTransaction.status).in_(UNRESOLVED))
            .where(col(WalletTransaction.updated_at) < PROCESS_STARTED_MS)
            .distinct()
        ).all()
    return resolve_journals(runtime.chain, runtime.engine, wallet_ids, "after a restart")
