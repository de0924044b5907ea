"""Named crash points for the reliability tests (ADR 0015): the process dies at an exact step.

`PAYNODE_FAILPOINTS` arms them, a comma-separated list of `point` or `point:tag` (the tag is the
transaction's kind at that step; `*` or no tag: any kind), for example

    PAYNODE_FAILPOINTS="after_sign:PaymentBatched,before_sync:Withdraw"

When an armed point is reached the process leaves at once with `os._exit(137)`, the status of a
SIGKILL: no `finally`, no atexit, no commit of an open database transaction, no flush of the HTTP
server. A process dies once, so a point fires once; the test restarts the node without the
variable. Unset (production), `hit` is one truth test of an empty dict.

The points, in the order a transaction meets them:

- `before_journal:<wallet tx kind>`: built, and the payment/purchase row moved to *Initiated
  with the intended hash, but no journal row yet (nothing signed is kept, nothing sent).
- `after_sign:<wallet tx kind>`: the journal holds the signed bytes and the hash (Signed);
  nothing sent.
- `after_submit:<wallet tx kind>`: Blockfrost accepted it; the journal still says Signed.
- `before_sync:<sync tx kind>`: the sync fetched and classified a confirmed transaction of the
  escrow address and has written nothing of it.
- `in_sync:<sync tx kind>`: the sync wrote its effects in the open database transaction, not yet
  committed.

Wallet tx kinds are the builders' (PaymentBatched, SubmitResult, CollectCompleted, CollectRefund,
RequestRefund, CancelRefund, AuthorizeRefund, CollectDisputed...); sync kinds are
node.sync.models.TxKind (Lock, SubmitResult, Withdraw, WithdrawRefund...).
"""

from __future__ import annotations

import os
import sys

ENV = "PAYNODE_FAILPOINTS"
EXIT_STATUS = 137  # 128 + SIGKILL, what a killed process reports
ANY = "*"
POINTS = frozenset({"before_journal", "after_sign", "after_submit", "before_sync", "in_sync"})


class FailpointError(ValueError):
    """PAYNODE_FAILPOINTS names a point that does not exist (a typo would never fire)."""


def parse(spec: str) -> dict[str, frozenset[str]]:
    """`point[:tag],...` → {point: tags}; an untagged point carries ANY."""
    armed: dict[str, set[str]] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        point, _, tag = item.partition(":")
        point, tag = point.strip(), tag.strip() or ANY
        if point not in POINTS:
            raise FailpointError(f"{ENV}: unknown point {point!r} (known: {sorted(POINTS)})")
        armed.setdefault(point, set()).add(tag)
    return {point: frozenset(tags) for point, tags in armed.items()}


_ARMED: dict[str, frozenset[str]] = parse(os.environ.get(ENV, ""))


def armed() -> dict[str, frozenset[str]]:
    return dict(_ARMED)


def hit(point: str, tag: str = "") -> None:
    """Die here if `point` is armed for `tag` (or for any tag)."""
    if not _ARMED:
        return
    tags = _ARMED.get(point)
    if tags is None or (ANY not in tags and tag not in tags):
        return
    sys.stderr.write(f"paynode: failpoint {point}:{tag or ANY} hit, exiting {EXIT_STATUS}\n")
    sys.stderr.flush()
    os._exit(EXIT_STATUS)
