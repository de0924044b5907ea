"""The submitter: records the intended transaction before sending it, never loses track of it.

- The signed bytes and tx hash are written to a journal before the first byte goes out, so a
  crash between signing and sending is recovered by sending those same bytes again.
- A submit that times out is "outcome unknown": the transaction is neither re-signed nor
  dropped; `resolve()` asks the chain and re-sends only the same signed bytes.
- A rejection of a re-send whose transaction is already on chain is a success, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from node import failpoints
from node.chain.builders import BuiltTx
from node.chain.port import (
    ChainNotFound,
    ChainPort,
    ChainUnavailable,
    SubmitOutcomeUnknown,
    TransactionRejected,
)

SIGNED = "Signed"
SUBMITTED = "Submitted"
OUTCOME_UNKNOWN = "OutcomeUnknown"
CONFIRMED = "Confirmed"
REJECTED = "Rejected"
EXPIRED = "Expired"
UNRESOLVED = (SIGNED, SUBMITTED, OUTCOME_UNKNOWN)


@dataclass(frozen=True)
class JournalEntry:
    tx_hash: str
    signed_cbor: bytes
    status: str
    invalid_hereafter_slot: int | None


class Journal(Protocol):
    """Where the submitter keeps what it signed (a table of the wallet's transactions)."""

    def record(self, built: BuiltTx) -> None: ...

    def mark(self, tx_hash: str, status: str, error: str | None = None) -> None: ...

    def unresolved(self) -> list[JournalEntry]: ...


@dataclass(frozen=True)
class Outcome:
    tx_hash: str
    status: str
    error: str | None = None


class Submitter:
    def __init__(self, chain: ChainPort, journal: Journal) -> None:
        self.chain = chain
        self.journal = journal

    def submit(self, built: BuiltTx) -> Outcome:
        failpoints.hit("before_journal", built.kind)
        self.journal.record(built)  # before sending: the intent survives a crash
        failpoints.hit("after_sign", built.kind)
        return self._send(built.tx_hash, built.cbor, built.kind)

    def resolve(self) -> list[Outcome]:
        """Settle every unresolved transaction from chain facts; re-send the same bytes of those
        that are neither on chain nor expired."""
        outcomes: list[Outcome] = []
        tip_slot: int | None = None
        entries = self.journal.unresolved()
        still = {entry.tx_hash for entry in entries}
        for entry in entries:
            if entry.tx_hash not in still:
                continue  # expired with the transaction it was chained on
            if outcomes and outcomes[-1].status in (EXPIRED, REJECTED):
                still = {e.tx_hash for e in self.journal.unresolved()}
                if entry.tx_hash not in still:
                    continue
            if self._on_chain(entry.tx_hash):
                outcomes.append(self._mark(entry.tx_hash, CONFIRMED))
                continue
            tip_slot = self.chain.tip().slot if tip_slot is None else tip_slot
            ttl = entry.invalid_hereafter_slot
            if ttl is not None and tip_slot >= ttl:
                outcomes.append(self._mark(entry.tx_hash, EXPIRED, "not on chain by its TTL"))
            elif entry.status != SUBMITTED:
                outcomes.append(self._send(entry.tx_hash, entry.signed_cbor))
        return outcomes

    def _send(self, tx_hash: str, signed_cbor: bytes, kind: str = "") -> Outcome:
        try:
            self.chain.submit(signed_cbor)
            failpoints.hit("after_submit", kind)
        except SubmitOutcomeUnknown as error:
            return self._mark(tx_hash, OUTCOME_UNKNOWN, str(error))
        except ChainUnavailable as error:
            return self._mark(tx_hash, SIGNED, str(error))  # never left; resolve() resends
        except TransactionRejected as error:
            if self._on_chain(tx_hash):  # an earlier send landed: this one only repeats it
                return self._mark(tx_hash, CONFIRMED)
            return self._mark(tx_hash, REJECTED, str(error))
        return self._mark(tx_hash, SUBMITTED)

    def _on_chain(self, tx_hash: str) -> bool:
        try:
            self.chain.transaction(tx_hash)
        except ChainNotFound:
            return False
        return True

    def _mark(self, tx_hash: str, status: str, error: str | None = None) -> Outcome:
        self.journal.mark(tx_hash, status, error)
        return Outcome(tx_hash, status, error)
