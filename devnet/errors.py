"""Errors raised by the devnet ledger."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the devnet ledger raises on purpose."""


class LedgerRejection(LedgerError):
    """A transaction broke a ledger rule; nothing in the ledger changed.

    `rule` is a stable id (e.g. ``"fee-too-small"``) that tests and the HTTP API rely on.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


class MalformedTransaction(LedgerRejection):
    """The bytes are not a well-formed Conway transaction."""

    def __init__(self, message: str) -> None:
        super().__init__("malformed", message)


class NotFound(LedgerError):
    """A queried object (tx, block, asset, script, datum) does not exist."""
