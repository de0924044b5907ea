"""Checks every reliability scenario runs at its end (issue #10): after faults, crashes or
rollbacks, the chain and the nodes must still agree on money and on jobs.

Stable API (each check raises `InvariantError`, an AssertionError, naming every violation at once,
and returns what it measured so a test can assert more):

- `check_value_conserved(ledger) -> Supply`
    (a) the sum of every UTxO's value (lovelace and every token) plus all fees paid equals what
    genesis created plus what was minted (the faucet pays from genesis, so it creates nothing).
- `escrow_histories(ledger, escrow_address) -> dict[str, EscrowHistory]`
- `check_escrow_once(ledger, escrow_address, identifiers=None) -> dict[str, EscrowHistory]`
    (b) each blockchainIdentifier locked at the escrow exactly once and ended (collected,
    refunded, dispute-withdrawn) at most once, classified from the chain's own transactions and
    datums; with `identifiers`, each of them must have its lock.
- `check_jobs_accounted(seller=client, buyer=client, require_done=False) -> JobReport`
    (c) every payment and purchase a node's API lists is done (a terminal on-chain state) or
    waiting with a reason the API reports: a *Requested / *Initiated action the node will carry
    out, WaitingForExternalAction (the counterparty or a deadline moves it; a seller's unpaid
    request turns manual with a note after payByTime), or WaitingForManualAction with an error.
    Never `None` on a live job, never a manual wait without a reason.
- `check_journal(engine, ledger=None) -> int`
    (d) the wallet journal never holds, for one (kind, request id), a Confirmed transaction and
    another one that is not Rejected / Expired (a re-sign with other inputs); at most one
    Confirmed per intent; no input spent by two Confirmed rows; with `ledger`, each Confirmed row's
    transaction is on the chain.
- `check_mirror_matches_chain(engine, ledger, escrow_address) -> int`
    the node's escrow mirror (confirmed rows) equals the chain: same lock, same last transaction,
    the same live UTxO (or none once ended), no confirmed row for a lock the chain lacks.
- `check_all(ledger, escrow_address, nodes=[Node(name, client, engine), ...], identifiers=...,
  require_done=False, require_locked=True) -> JobReport` runs them all.

The chain is read from a `devnet.ledger.Ledger` in process (never through a fault proxy). For a
devnet in another process, started with `--state FILE`, load it: `Ledger.load(str(FILE))` once
its saver has written (it saves shortly after every change, and on stop).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, select

from contracts.datums import EscrowDatum
from devnet import phase1
from devnet.ledger import Ledger
from node.client import Payment, PaynodeClient, Purchase, request_id_of
from node.payments.identifier import blockchain_identifier_from_datum
from node.sync.models import EscrowMirror, RowStatus
from node.wallets.models import TxStatus, WalletTransaction

LOVELACE = "lovelace"
TERMINAL = frozenset({"Withdrawn", "RefundWithdrawn", "DisputedWithdrawn"})
ENDED_STATUSES = frozenset({TxStatus.REJECTED, TxStatus.EXPIRED})


class InvariantError(AssertionError):
    """One or more invariants broken; the message lists each violation on its own line."""

    def __init__(self, what: str, violations: Sequence[str]) -> None:
        self.violations = list(violations)
        super().__init__(f"{what}: {len(violations)} violation(s)\n  " + "\n  ".join(violations))


def _raise_if(what: str, violations: list[str]) -> None:
    if violations:
        raise InvariantError(what, violations)


# --- (a) value conservation ---------------------------------------------------------------


@dataclass(frozen=True)
class Supply:
    """Per unit ("lovelace" or policy+name hex): created (genesis + net minting), held in UTxOs,
    paid as fees (lovelace only, collateral of phase-2 failures included)."""

    created: dict[str, int]
    held: dict[str, int]
    fees: int
    transactions: int


def _chain_txs(ledger: Ledger) -> list[phase1.DecodedTx]:
    """Every transaction on the chain (genesis excluded), oldest first."""
    txs: list[phase1.DecodedTx] = []
    tip = ledger.tip().height
    for height in range(1, tip + 1):
        block = ledger.block(height).block
        for tx_hash in block.tx_hashes:
            txs.append(phase1.decode_transaction(ledger.transaction_cbor(tx_hash)))
    return txs


def check_value_conserved(ledger: Ledger) -> Supply:
    created: Counter[str] = Counter()
    for raw in ledger.genesis.output_cbors():
        output = phase1.decode_output(raw)
        created[LOVELACE] += output.coin
        for raw_unit, quantity in output.assets.items():
            created[raw_unit.hex()] += quantity
    held: Counter[str] = Counter()
    for raw in ledger.utxo_snapshot().values():
        output = phase1.decode_output(raw)
        held[LOVELACE] += output.coin
        for raw_unit, quantity in output.assets.items():
            held[raw_unit.hex()] += quantity
    fees = 0
    violations: list[str] = []
    txs = _chain_txs(ledger)
    for tx in txs:
        if not tx.is_valid:  # phase-2 failure: the collateral is the fee
            fees += tx.total_collateral or 0
            continue
        fees += tx.fee
        if tx.unsupported_fields:
            violations.append(f"{tx.hash_hex}: fields not accounted {tx.unsupported_fields}")
        for policy, assets in tx.mint.items():
            for asset_name, quantity in assets.items():
                created[(policy + asset_name).hex()] += quantity
    for name in sorted(set(created) | set(held)):
        spent = fees if name == LOVELACE else 0
        if created[name] != held[name] + spent:
            violations.append(
                f"{name}: created {created[name]} != held {held[name]} + fees {spent} "
                f"(difference {created[name] - held[name] - spent})"
            )
    _raise_if("value conservation", violations)
    keep = {name: quantity for name, quantity in created.items() if quantity}
    return Supply(keep, {u: q for u, q in held.items() if q}, fees, len(txs))


# --- (b) each request locked once, ended at most once -------------------------------------


@dataclass
class EscrowHistory:
    """One blockchainIdentifier's transactions at the escrow, oldest first."""

    blockchain_identifier: str
    request_id: str | None
    locks: list[str] = field(default_factory=list)  # an escrow output of it, no escrow input
    steps: list[str] = field(default_factory=list)  # an input and an output (result, refund...)
    ends: list[str] = field(default_factory=list)  # an input of it, no output (collect, refund)
    live_utxo: tuple[str, int] | None = None  # the escrow output holding it now
    order: list[str] = field(default_factory=list)  # all of them, as the chain has them

    @property
    def last_tx(self) -> str:
        return self.order[-1] if self.order else ""


def _identifier(inline_datum: str | None) -> str | None:
    if inline_datum is None:
        return None
    try:
        return blockchain_identifier_from_datum(EscrowDatum.from_cbor(bytes.fromhex(inline_datum)))
    except Exception:
        return None


def escrow_histories(ledger: Ledger, escrow_address: str) -> dict[str, EscrowHistory]:
    """Every identifier ever at `escrow_address` on the current chain, by blockchainIdentifier."""
    histories: dict[str, EscrowHistory] = {}

    def history(identifier: str) -> EscrowHistory:
        if identifier not in histories:
            histories[identifier] = EscrowHistory(identifier, request_id_of(identifier))
        return histories[identifier]

    for ref in ledger.address_transactions(escrow_address):
        utxos = ledger.transaction_utxos(ref.tx_hash)
        spent = {
            _identifier(io.inline_datum)
            for io in utxos.inputs
            if io.address == escrow_address and not io.collateral and not io.reference
        }
        made: dict[str | None, tuple[str, int]] = {}
        for io in utxos.outputs:
            if io.address == escrow_address and not io.collateral:
                made[_identifier(io.inline_datum)] = (ref.tx_hash, io.output_index)
        for identifier in (spent | set(made)) - {None}:
            assert identifier is not None
            entry = history(identifier)
            entry.order.append(ref.tx_hash)
            if identifier in made and identifier not in spent:
                entry.locks.append(ref.tx_hash)
            elif identifier in made:
                entry.steps.append(ref.tx_hash)
            else:
                entry.ends.append(ref.tx_hash)
            entry.live_utxo = made.get(identifier)
    return histories


def check_escrow_once(
    ledger: Ledger, escrow_address: str, identifiers: Iterable[str] | None = None
) -> dict[str, EscrowHistory]:
    histories = escrow_histories(ledger, escrow_address)
    violations: list[str] = []
    for identifier, entry in histories.items():
        short = f"{entry.request_id or identifier[:24]}"
        if len(entry.locks) != 1:
            violations.append(f"{short}: locked {len(entry.locks)} times {entry.locks}")
        if len(entry.ends) > 1:
            violations.append(f"{short}: ended {len(entry.ends)} times {entry.ends}")
    for identifier in identifiers or ():
        if identifier not in histories:
            violations.append(f"{request_id_of(identifier)}: never locked on chain")
    _raise_if("escrow locked once, ended at most once", violations)
    return histories


# --- (c) every job done or waiting with a reason ------------------------------------------


@dataclass(frozen=True)
class JobState:
    side: str  # "seller" or "buyer"
    blockchain_identifier: str
    on_chain_state: str | None
    requested_action: str
    error_type: str | None
    error_note: str | None

    @property
    def done(self) -> bool:
        return self.on_chain_state in TERMINAL


@dataclass(frozen=True)
class JobReport:
    jobs: list[JobState]

    @property
    def done(self) -> list[JobState]:
        return [job for job in self.jobs if job.done]

    @property
    def waiting(self) -> list[JobState]:
        return [job for job in self.jobs if not job.done]


def _all_payments(client: PaynodeClient) -> list[Payment]:
    rows: list[Payment] = []
    cursor: str | None = None
    while True:
        page = client.list_payments(limit=100, cursor_id=cursor)
        rows += page.payments
        if not page.next_cursor_id or not page.payments:
            return rows
        cursor = page.next_cursor_id


def _all_purchases(client: PaynodeClient) -> list[Purchase]:
    rows: list[Purchase] = []
    cursor: str | None = None
    while True:
        page = client.list_purchases(limit=100, cursor_id=cursor)
        rows += page.purchases
        if not page.next_cursor_id or not page.purchases:
            return rows
        cursor = page.next_cursor_id


def _reason_missing(job: JobState) -> str | None:
    action = job.requested_action
    if job.done:
        return None
    if action.endswith("Requested") or action.endswith("Initiated"):
        return None  # the node's own work, queued or in flight
    if action == "WaitingForManualAction":
        if job.error_type or job.error_note:
            return None
        return "waits for manual action with no error type or note"
    if action == "WaitingForExternalAction":
        return None  # the counterparty (a lock, a result, a refund) or a deadline moves it
    return f"action {action!r} on a live job ({job.on_chain_state}) with no reason"


def check_jobs_accounted(
    *,
    seller: PaynodeClient | None = None,
    buyer: PaynodeClient | None = None,
    identifiers: Iterable[str] | None = None,
    require_done: bool = False,
) -> JobReport:
    """Reads the nodes' APIs (they must answer: an error is a violation too). With
    `identifiers`, only those jobs; with `require_done`, every job must be terminal."""
    wanted = set(identifiers) if identifiers is not None else None
    jobs: list[JobState] = []
    for name, client in (("seller", seller), ("buyer", buyer)):
        if client is None:
            continue
        rows: Sequence[Payment | Purchase] = (
            _all_payments(client) if name == "seller" else _all_purchases(client)
        )
        for row in rows:
            if wanted is not None and row.blockchain_identifier not in wanted:
                continue
            action = row.next_action
            jobs.append(
                JobState(
                    name,
                    row.blockchain_identifier,
                    row.on_chain_state,
                    action.requested_action,
                    action.error_type,
                    action.error_note,
                )
            )
    violations: list[str] = []
    for job in jobs:
        label = f"{job.side} {request_id_of(job.blockchain_identifier)}"
        missing = _reason_missing(job)
        if missing is not None:
            violations.append(f"{label}: {missing}")
        elif require_done and not job.done:
            violations.append(
                f"{label}: not done ({job.on_chain_state}, {job.requested_action}, "
                f"{job.error_type}: {job.error_note})"
            )
    if wanted is not None:
        for identifier in wanted:
            if not any(job.blockchain_identifier == identifier for job in jobs):
                violations.append(f"{request_id_of(identifier)}: listed by no node")
    _raise_if("jobs done or waiting with a reason", violations)
    return JobReport(jobs)


# --- (d) the wallet journal: no double spend of intent ------------------------------------


def check_journal(engine: Engine, ledger: Ledger | None = None) -> int:
    """Returns how many journal rows were checked."""
    with Session(engine) as session:
        rows = list(session.exec(select(WalletTransaction)))
    by_intent: dict[tuple[str, str], list[WalletTransaction]] = defaultdict(list)
    for row in rows:
        for request_id in row.request_ids:
            by_intent[(row.kind, request_id)].append(row)
    violations: list[str] = []
    for (kind, request_id), group in by_intent.items():
        confirmed = [row for row in group if row.status == TxStatus.CONFIRMED]
        if len(confirmed) > 1:
            hashes = [row.tx_hash for row in confirmed]
            violations.append(f"{kind} {request_id}: confirmed {len(confirmed)} times {hashes}")
        if confirmed:
            others = [
                f"{row.tx_hash} ({row.status})"
                for row in group
                if row.status not in ENDED_STATUSES and row.status != TxStatus.CONFIRMED
            ]
            if others:
                violations.append(
                    f"{kind} {request_id}: confirmed {confirmed[0].tx_hash} yet re-signed {others}"
                )
    spenders: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.status == TxStatus.CONFIRMED:
            for spent in row.spent_inputs:
                spenders[spent].append(row.tx_hash)
    for spent, hashes in spenders.items():
        if len(hashes) > 1:
            violations.append(f"input {spent} spent by confirmed {hashes}")
    if ledger is not None:
        for row in rows:
            if row.status == TxStatus.CONFIRMED and not _on_chain(ledger, row.tx_hash):
                violations.append(
                    f"{row.kind} {row.tx_hash}: Confirmed in the journal, not on chain"
                )
    _raise_if("wallet journal", violations)
    return len(rows)


def _on_chain(ledger: Ledger, tx_hash: str) -> bool:
    try:
        ledger.transaction(tx_hash)
    except Exception:
        return False
    return True


# --- the mirror equals the chain ------------------------------------------------------------


def check_mirror_matches_chain(engine: Engine, ledger: Ledger, escrow_address: str) -> int:
    """Each confirmed EscrowMirror row against the chain's history of its identifier; returns how
    many rows were compared."""
    histories = escrow_histories(ledger, escrow_address)
    with Session(engine) as session:
        rows = list(
            session.exec(select(EscrowMirror).where(EscrowMirror.status == RowStatus.CONFIRMED))
        )
    violations: list[str] = []
    for row in rows:
        label = f"mirror {row.request_id}"
        entry = histories.get(row.blockchain_identifier)
        if entry is None or row.lock_tx_hash not in entry.locks:
            violations.append(f"{label}: lock {row.lock_tx_hash} is not on chain")
            continue
        if row.last_tx_hash is not None and row.last_tx_hash != entry.last_tx:
            violations.append(f"{label}: last tx {row.last_tx_hash}, chain {entry.last_tx}")
        live = (row.utxo_tx_hash, row.utxo_output_index) if row.utxo_tx_hash is not None else None
        if live != entry.live_utxo:
            violations.append(f"{label}: holds {live}, chain {entry.live_utxo}")
        if row.state in TERMINAL and entry.live_utxo is not None:
            violations.append(f"{label}: {row.state} but the escrow is still live on chain")
    _raise_if("mirror equals chain", violations)
    return len(rows)


# --- everything -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """What the checks need of one node: its API and its database."""

    name: str  # "seller" or "buyer"
    client: PaynodeClient
    engine: Engine


def check_all(
    ledger: Ledger,
    escrow_address: str,
    nodes: Sequence[Node],
    *,
    identifiers: Iterable[str] | None = None,
    require_done: bool = False,
    require_locked: bool = True,
) -> JobReport:
    """(a) to (d) and the mirror, for every node given; the jobs' report. `identifiers`: the
    scenario's jobs (each must be listed by a node and, with `require_locked`, locked on chain)."""
    wanted = list(identifiers) if identifiers is not None else None
    check_value_conserved(ledger)
    check_escrow_once(ledger, escrow_address, wanted if require_locked else None)
    by_name = {node.name: node.client for node in nodes}
    report = check_jobs_accounted(
        seller=by_name.get("seller"),
        buyer=by_name.get("buyer"),
        identifiers=wanted,
        require_done=require_done,
    )
    for node in nodes:
        check_journal(node.engine, ledger)
        check_mirror_matches_chain(node.engine, ledger, escrow_address)
    return report
