"""Checks a lock must pass against what the node agreed to (masumi-protocol.md §12 point 6: the
payment request's times, amounts, input hash...). The payments and purchases packages register
theirs; the sync runs every registered check on each lock that names one of our wallets."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from contracts.datums import EscrowDatum
from node.sync.models import EscrowMirror

# (session, the new mirror row, its datum) -> None if the lock is what we agreed to, else why not
LockCheck = Callable[[Session, EscrowMirror, EscrowDatum], str | None]

LOCK_CHECKS: list[LockCheck] = []


def register_lock_check(check: LockCheck) -> None:
    if check not in LOCK_CHECKS:
        LOCK_CHECKS.append(check)


def run_lock_checks(session: Session, row: EscrowMirror, datum: EscrowDatum) -> list[str]:
    problems = []
    for check in LOCK_CHECKS:
        problem = check(session, row, datum)
        if problem:
            problems.append(problem)
    return problems
