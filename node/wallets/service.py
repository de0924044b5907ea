"""Hot wallets: add (imported or generated), read, list, update; secrets; the wallet lock."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import cbor2
from pycardano import Address, TransactionInput, TransactionOutput, UTxO
from sqlalchemy import ColumnElement, Engine, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from node.chain.addresses import AddressError, parse_address
from node.chain.builders import Actor, BuiltTx
from node.chain.context import PortChainContext
from node.chain.port import ChainError, ChainNotFound, ChainPort
from node.chain.submitter import UNRESOLVED, JournalEntry, Outcome, Submitter
from node.clock import iso_from_ms, now_ms
from node.config import NetworkProfile
from node.crypto import SecretBox
from node.ids import new_id
from node.wallets.keys import MnemonicError, WalletKeys, derive_keys, generate_mnemonic
from node.wallets.models import HotWallet, HotWalletType, TxStatus, WalletTransaction
from node.wallets.schemas import WalletCreate, WalletOut, WalletSecret, WalletUpdate
from node.web import conflict, field_error, not_found

logger = logging.getLogger(__name__)


def _associated_data(network: str, payment_key_hash: str) -> bytes:
    return f"paynode hot-wallet {network} {payment_key_hash}".encode()


def add_wallet(
    session: Session, box: SecretBox, profile: NetworkProfile, request: WalletCreate
) -> HotWallet:
    if request.network is not None and request.network != profile.display_name:
        raise field_error("network", f"this node serves {profile.display_name}")
    collection = _collection_address(request.collection_address, profile)
    if request.wallet_mnemonic is None:
        mnemonic = generate_mnemonic()
    else:
        mnemonic = request.wallet_mnemonic.get_secret_value()
    try:
        keys = derive_keys(mnemonic, profile.network_id)
    except MnemonicError as error:
        raise field_error("walletMnemonic", str(error)) from error
    existing = find_by_key_hash(session, profile.name, keys.payment_key_hash)
    if existing is not None:
        raise conflict("this wallet exists already", existing.id, to_out(existing))
    wallet = _new_wallet(box, profile, request, keys, collection, mnemonic)
    session.add(wallet)
    try:
        session.commit()
    except IntegrityError as error:  # a concurrent add of the same wallet won the race
        session.rollback()
        raced = find_by_key_hash(session, profile.name, keys.payment_key_hash)
        if raced is None:
            raise
        raise conflict("this wallet exists already", raced.id, to_out(raced)) from error
    return wallet


def _new_wallet(
    box: SecretBox,
    profile: NetworkProfile,
    request: WalletCreate,
    keys: WalletKeys,
    collection: str | None,
    mnemonic: str,
) -> HotWallet:
    now = now_ms()
    aad = _associated_data(profile.name, keys.payment_key_hash)
    phrase = " ".join(mnemonic.lower().split())
    return HotWallet(
        id=new_id(),
        network=profile.name,
        type=request.type,
        payment_key_hash=keys.payment_key_hash,
        stake_key_hash=keys.stake_key_hash,
        address=keys.address,
        collection_address=collection,
        note=request.note,
        encrypted_mnemonic=box.encrypt(phrase.encode(), aad),
        created_at=now,
        updated_at=now,
    )


def _collection_address(address: str | None, profile: NetworkProfile) -> str | None:
    if address is None:
        return None
    try:
        parse_address(address, profile.network_id)
    except AddressError as error:
        raise field_error("collectionAddress", str(error)) from error
    return address


def find_by_key_hash(
    session: Session, network: str, payment_key_hash: str, kind: HotWalletType | None = None
) -> HotWallet | None:
    """This node's wallet with that payment key hash (of that type, when given)."""
    query = select(HotWallet).where(
        HotWallet.network == network, HotWallet.payment_key_hash == payment_key_hash.lower()
    )
    if kind is not None:
        query = query.where(HotWallet.type == kind)
    return session.exec(query).first()


def get_wallet(session: Session, profile: NetworkProfile, wallet_id: str) -> HotWallet:
    wallet = session.get(HotWallet, wallet_id)
    if wallet is None or wallet.network != profile.name:
        raise not_found("wallet")
    return wallet


def list_wallets(
    session: Session,
    profile: NetworkProfile,
    wallet_type: HotWalletType | None,
    limit: int,
    cursor_id: str | None,
) -> list[HotWallet]:
    query = select(HotWallet).where(HotWallet.network == profile.name)
    if wallet_type is not None:
        query = query.where(HotWallet.type == wallet_type)
    if cursor_id:
        query = query.where(col(HotWallet.id) < cursor_id)
    return list(session.exec(query.order_by(col(HotWallet.id).desc()).limit(limit)))


def update_wallet(session: Session, profile: NetworkProfile, request: WalletUpdate) -> HotWallet:
    wallet = get_wallet(session, profile, request.id)
    if "collection_address" in request.model_fields_set:
        wallet.collection_address = _collection_address(request.collection_address, profile)
    if "note" in request.model_fields_set:
        wallet.note = request.note
    wallet.updated_at = now_ms()
    session.add(wallet)
    session.commit()
    return wallet


def reveal_mnemonic(box: SecretBox, wallet: HotWallet) -> str:
    aad = _associated_data(wallet.network, wallet.payment_key_hash)
    return box.decrypt(wallet.encrypted_mnemonic, aad).decode()


def wallet_keys(box: SecretBox, wallet: HotWallet, network_id: int) -> WalletKeys:
    """The signing key, checked against the stored key hash so a wrong secret can never sign."""
    keys = derive_keys(reveal_mnemonic(box, wallet), network_id)
    if keys.payment_key_hash != wallet.payment_key_hash:
        raise ValueError(f"wallet {wallet.id}: decrypted mnemonic does not match its key hash")
    return keys


def wallet_actor(box: SecretBox, wallet: HotWallet, network_id: int) -> Actor:
    """The wallet as a transaction's signer, payer and change address."""
    keys = wallet_keys(box, wallet, network_id)
    return Actor(keys.payment_signing_key, Address.from_primitive(keys.address))


def to_out(wallet: HotWallet, mnemonic: str | None = None) -> WalletOut:
    return WalletOut(
        id=wallet.id,
        type=wallet.type,
        network=wallet.network,
        wallet_vkey=wallet.payment_key_hash,
        wallet_address=wallet.address,
        stake_key_hash=wallet.stake_key_hash,
        collection_address=wallet.collection_address,
        note=wallet.note,
        locked_at=iso_from_ms(wallet.locked_at) if wallet.locked_at is not None else None,
        created_at=iso_from_ms(wallet.created_at),
        updated_at=iso_from_ms(wallet.updated_at),
        secret=WalletSecret(mnemonic=mnemonic) if mnemonic is not None else None,
    )


class WalletBusy(Exception):
    """Another spender holds the wallet lock."""


_HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()
_PROCESS = f"p:{_HOST}:{os.getpid()}:{now_ms()}"  # on every lock this process takes


def new_holder() -> str:
    """A lock holder naming this process (host, pid, start), so that a restarted node can tell
    a lock its killed predecessor left from one a live replica holds."""
    return f"{_PROCESS}:{secrets.token_hex(8)}"


def _left_by_dead_process(holder: str | None) -> bool:
    """A holder taken by a process of this host that is gone: killed before it could unlock
    (the same pid started at another time, as a container's pid 1 after a restart, or a pid that
    no longer exists). Holders of other hosts, or unparseable ones, are never presumed dead."""
    parts = (holder or "").split(":")
    if len(parts) != 5 or parts[0] != "p" or parts[1] != _HOST:
        return False
    try:
        pid, started = int(parts[2]), int(parts[3])
    except ValueError:
        return False
    if pid == os.getpid():
        return f"p:{_HOST}:{pid}:{started}" != _PROCESS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    return False  # alive (or its pid reused): wait for the timeout


def try_lock_wallet(engine: Engine, wallet_id: str, holder: str, timeout_ms: int) -> bool:
    """Take the wallet lock if it is free, its holder let it expire, or its holder's process
    died (`_left_by_dead_process`). One atomic UPDATE each, so it holds across threads, processes
    and node replicas sharing one database."""
    now = now_ms()
    statement = (
        update(HotWallet)
        .where(col(HotWallet.id) == wallet_id)
        .where(
            or_(
                col(HotWallet.lock_holder).is_(None),
                col(HotWallet.locked_at) < now - timeout_ms,
                col(HotWallet.lock_holder) == holder,
            )
        )
        .values(lock_holder=holder, locked_at=now)
    )
    with engine.begin() as connection:
        if connection.execute(statement).rowcount == 1:
            return True
        current = connection.execute(
            select(HotWallet.lock_holder).where(col(HotWallet.id) == wallet_id)
        ).scalar_one_or_none()
        if not _left_by_dead_process(current):
            return False
        taken = (
            update(HotWallet)
            .where(col(HotWallet.id) == wallet_id, col(HotWallet.lock_holder) == current)
            .values(lock_holder=holder, locked_at=now)
        )
        return connection.execute(taken).rowcount == 1


def unlock_wallet(engine: Engine, wallet_id: str, holder: str) -> bool:
    """Release the lock if `holder` still has it (an expired holder must not free a new one's)."""
    statement = (
        update(HotWallet)
        .where(col(HotWallet.id) == wallet_id, col(HotWallet.lock_holder) == holder)
        .values(lock_holder=None, locked_at=None)
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


@contextmanager
def wallet_lock(
    engine: Engine, wallet_id: str, *, timeout_ms: int, wait_ms: int = 0, poll_ms: int = 50
) -> Iterator[str]:
    """Hold a wallet's lock for the block; waits up to `wait_ms`, then raises WalletBusy."""
    holder = new_holder()
    deadline = now_ms() + wait_ms
    while not try_lock_wallet(engine, wallet_id, holder, timeout_ms):
        if now_ms() >= deadline:
            raise WalletBusy(f"wallet {wallet_id} is locked by another spender")
        time.sleep(poll_ms / 1000)
    try:
        yield holder
    finally:
        unlock_wallet(engine, wallet_id, holder)


# Transactions the wallet signs ----------------------------------------------------------------

RECENTLY_CONFIRMED_MS = 10 * 60_000  # Blockfrost's UTxO index lags its transaction index


class WalletJournal:
    """The submitter's journal for one wallet: the `wallet_transaction` rows."""

    def __init__(self, engine: Engine, wallet_id: str) -> None:
        self.engine = engine
        self.wallet_id = wallet_id

    def record(self, built: BuiltTx) -> None:
        now = now_ms()
        row = WalletTransaction(
            id=new_id(),
            wallet_id=self.wallet_id,
            tx_hash=built.tx_hash,
            kind=built.kind,
            request_ids=list(built.request_ids),
            spent_inputs=[f"{tx_hash}#{index}" for tx_hash, index in built.spent],
            signed_cbor=built.cbor,
            fee=built.fee,
            invalid_hereafter_slot=built.tx.transaction_body.ttl,
            status=TxStatus.SIGNED,
            created_at=now,
            updated_at=now,
        )
        with Session(self.engine) as session:
            session.add(row)
            session.commit()

    def mark(self, tx_hash: str, status: str, error: str | None = None) -> None:
        """Set a transaction's status. One that can never land (Rejected, Expired) takes with
        it the unresolved transactions chained on its outputs, and theirs: they are Expired."""
        with Session(self.engine) as session:
            row = session.exec(
                select(WalletTransaction).where(WalletTransaction.tx_hash == tx_hash)
            ).one()
            self._set(session, row, TxStatus(status), error)
            if row.status in (TxStatus.REJECTED, TxStatus.EXPIRED):
                self._expire_children(session, row)
            session.commit()

    @staticmethod
    def _set(session: Session, row: WalletTransaction, status: TxStatus, error: str | None) -> None:
        row.status = status
        row.attempts += 1 if status in (TxStatus.SUBMITTED, TxStatus.OUTCOME_UNKNOWN) else 0
        row.last_error = error[:1000] if error else None
        row.updated_at = now_ms()
        session.add(row)

    def _expire_children(self, session: Session, parent: WalletTransaction) -> None:
        rows = list(
            session.exec(
                select(WalletTransaction)
                .where(WalletTransaction.wallet_id == parent.wallet_id)
                .where(col(WalletTransaction.status).in_(UNRESOLVED))
                .order_by(col(WalletTransaction.created_at))
            )
        )
        doomed = {parent.tx_hash: parent.status}
        for row in rows:  # oldest first: a child comes after its parent
            parents = {ref[:64] for ref in row.spent_inputs} & doomed.keys()
            if not parents or row.tx_hash in doomed:
                continue
            first = sorted(parents)[0]
            note = f"spends an output of {first}, which was {doomed[first].lower()}"
            self._set(session, row, TxStatus.EXPIRED, note)
            doomed[row.tx_hash] = TxStatus.EXPIRED

    def unresolved(self) -> list[JournalEntry]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(WalletTransaction)
                .where(WalletTransaction.wallet_id == self.wallet_id)
                .where(col(WalletTransaction.status).in_(UNRESOLVED))
                .order_by(col(WalletTransaction.created_at))
            )
            return [
                JournalEntry(row.tx_hash, row.signed_cbor, row.status, row.invalid_hereafter_slot)
                for row in rows
            ]


def _maybe_unseen() -> ColumnElement[bool]:
    """A transaction the chain (or Blockfrost's UTxO index, which lags) may not show yet:
    unresolved, or confirmed moments ago."""
    return or_(
        col(WalletTransaction.status).in_(UNRESOLVED),
        and_(
            col(WalletTransaction.status) == TxStatus.CONFIRMED,
            col(WalletTransaction.updated_at) >= now_ms() - RECENTLY_CONFIRMED_MS,
        ),
    )


def pending_inputs(engine: Engine, wallet_id: str) -> set[tuple[bytes, int]]:
    """Inputs spent by this wallet's transactions that the chain may not show as spent yet."""
    with Session(engine) as session:
        rows = session.exec(
            select(WalletTransaction.spent_inputs)
            .where(WalletTransaction.wallet_id == wallet_id)
            .where(_maybe_unseen())
        )
        return _references(rows)


def _references(spent_inputs: Iterable[Sequence[str]]) -> set[tuple[bytes, int]]:
    """The journal's "txhash#index" inputs as (tx id, index) references."""
    return {(bytes.fromhex(ref[:64]), int(ref[65:])) for inputs in spent_inputs for ref in inputs}


@dataclass(frozen=True)
class PendingSpends:
    """A wallet's transactions the chain may not show yet: the inputs they spend, and their
    outputs back to the wallet that no other one spends (change a next transaction can chain
    on: a node's mempool accepts a transaction spending outputs of transactions still in it)."""

    spent: set[tuple[bytes, int]]
    outputs: dict[tuple[bytes, int], UTxO]


def pending_spends(engine: Engine, wallet_id: str) -> PendingSpends:
    with Session(engine) as session:
        wallet = session.get(HotWallet, wallet_id)
        rows = session.exec(
            select(
                WalletTransaction.tx_hash,
                WalletTransaction.spent_inputs,
                WalletTransaction.signed_cbor,
            )
            .where(WalletTransaction.wallet_id == wallet_id)
            .where(_maybe_unseen())
        ).all()
    spent = _references(inputs for _, inputs, _ in rows)
    outputs: dict[tuple[bytes, int], UTxO] = {}
    if wallet is not None:
        key_hash = bytes.fromhex(wallet.payment_key_hash)
        for tx_hash, _, signed_cbor in rows:
            for utxo in outputs_to(tx_hash, signed_cbor, key_hash):
                reference = (bytes.fromhex(tx_hash), int(utxo.input.index))
                if reference not in spent:
                    outputs[reference] = utxo
    return PendingSpends(spent, outputs)


def outputs_to(tx_hash: str, signed_cbor: bytes, key_hash: bytes) -> list[UTxO]:
    """The outputs of a signed transaction locked by `key_hash` (its payment part), read from
    the body alone: the witnesses, scripts included, are not decoded."""
    body = cbor2.loads(signed_cbor)[0]
    found = []
    for index, raw in enumerate(body[1]):
        address = raw[0]  # a legacy output's first item, a post-Alonzo output's key 0
        keyed = isinstance(address, bytes) and address[0] >> 4 in (0, 2, 4, 6)
        if keyed and address[1:29] == key_hash:
            txin = TransactionInput.from_primitive([bytes.fromhex(tx_hash), index])
            found.append(UTxO(txin, TransactionOutput.from_primitive(raw)))
    return found


def resolve_journals(chain: ChainPort, engine: Engine, wallet_ids: Iterable[str], why: str) -> int:
    """Settle each wallet's unresolved transactions from chain facts; the submitter re-sends only
    their same signed bytes, never re-signs. A wallet the chain cannot answer for waits for the
    next call. Returns the wallets resolved."""
    resolved = 0
    for wallet_id in sorted(set(wallet_ids)):
        try:
            Submitter(chain, WalletJournal(engine, wallet_id)).resolve()
            resolved += 1
        except ChainError as error:
            logger.info("wallet %s: resolving %s waits: %s", wallet_id, why, error)
    return resolved


def settle_overdue(chain: ChainPort, journal: WalletJournal) -> None:
    """Unresolved transactions past their TTL are on chain (Confirmed) or never will be
    (Expired, and the transactions chained on them with them): one look-up each, once."""
    entries = [entry for entry in journal.unresolved() if entry.invalid_hereafter_slot is not None]
    if not entries:
        return
    tip = chain.tip().slot
    unresolved = {entry.tx_hash for entry in entries}
    for entry in entries:
        ttl = entry.invalid_hereafter_slot
        if ttl is None or tip < ttl or entry.tx_hash not in unresolved:
            continue  # not overdue, or expired with its parent
        try:
            chain.transaction(entry.tx_hash)
        except ChainNotFound:
            journal.mark(entry.tx_hash, TxStatus.EXPIRED, "not on chain by its TTL")
            unresolved = {e.tx_hash for e in journal.unresolved()}  # its children went with it
            continue
        journal.mark(entry.tx_hash, TxStatus.CONFIRMED)


def spend_from_wallet(
    engine: Engine,
    chain: ChainPort,
    wallet_id: str,
    network_id: int,
    build: Callable[[PortChainContext], BuiltTx],
    *,
    lock_timeout_ms: int,
    wait_ms: int = 30_000,
) -> Outcome:
    """Build, record and submit one transaction while holding the wallet's lock: the inputs of
    its pending transactions kept out of coin selection, their change offered to it (chained
    in the mempool), and those past their TTL settled first."""
    with wallet_lock(engine, wallet_id, timeout_ms=lock_timeout_ms, wait_ms=wait_ms):
        journal = WalletJournal(engine, wallet_id)
        settle_overdue(chain, journal)
        pending = pending_spends(engine, wallet_id)
        context = PortChainContext(chain, network_id, one_build=True)
        context.excluded = pending.spent
        context.pending = pending.outputs
        built = build(context)
        return Submitter(chain, journal).submit(built)
