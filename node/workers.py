"""The background jobs: worker steps run one after another, every PAYNODE_WORKER_INTERVAL_MS, in a
thread of the node process. A step takes the runtime and returns how many rows it moved; an
exception is logged and the loop goes on. Each step claims its rows with row locks, so several
replicas sharing one PostgreSQL can run the same steps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from node.agents import service as agents
from node.payments import workers as payments
from node.purchases import workers as purchases
from node.runtime import Runtime
from node.sync import registry as registry_sync
from node.sync import service as sync
from node.wallets import workers as wallets
from node.webhooks import service as webhooks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerStep:
    name: str
    run: Callable[[Runtime], int]
    every_ms: int = 0  # at most this often; 0: every tick


# The registry changes rarely and only matters when a buyer looks an agent up (which reads the
# chain itself): listing the policy every tick would cost requests for nothing.
REGISTRY_SYNC_EVERY_MS = 30_000


# Every step, in the order a tick runs them. Adding a job is adding a line.
STEPS: list[WorkerStep] = [
    WorkerStep("registry.process_requests", agents.process_registry_requests),
    WorkerStep("registry.confirm_transactions", agents.confirm_registry_transactions),
    WorkerStep("wallets.resolve_after_restart", wallets.resolve_after_restart),
    WorkerStep("sync.escrow", sync.sync_step),
    WorkerStep("sync.registry", registry_sync.registry_sync_step, REGISTRY_SYNC_EVERY_MS),
    WorkerStep("payments.follow_chain", payments.follow_chain),
    WorkerStep("payments.decide", payments.decide),
    WorkerStep("payments.carry_out", payments.carry_out),
    WorkerStep("payments.resolve_transactions", payments.resolve_transactions),
    WorkerStep("purchases.follow_chain", purchases.follow_chain),
    WorkerStep("purchases.automatic_refunds", purchases.request_automatic_refunds),
    WorkerStep("purchases.time_out_unpaid", purchases.time_out_unpaid),
    WorkerStep("purchases.resolve_transactions", purchases.resolve_transactions),
    WorkerStep("purchases.lock", purchases.lock_purchases),
    WorkerStep("purchases.refund_actions", purchases.run_refund_actions),
    WorkerStep("wallets.low_balance", wallets.check_wallet_balances),
    WorkerStep("webhooks.deliver", webhooks.deliver_due),
]


class Scheduler:
    """Runs `steps` every `interval_ms` in a daemon thread until stopped."""

    def __init__(
        self, runtime: Runtime, steps: Sequence[WorkerStep] | None = None, interval_ms: int = 0
    ) -> None:
        self.runtime = runtime
        self.steps = list(STEPS if steps is None else steps)
        self.interval_ms = interval_ms or runtime.settings.worker_interval_ms
        self.ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: dict[str, str] = {}
        self._last_run_ms: dict[str, int] = {}

    def run_once(self) -> dict[str, int]:
        """One tick: every step that is due, once. What a step raises is logged (with its
        traceback the first time it says something new) and counted as 0."""
        moved: dict[str, int] = {}
        for step in self.steps:
            if not self._due(step):
                continue
            try:
                moved[step.name] = step.run(self.runtime)
                self._last_error.pop(step.name, None)
            except Exception as error:
                moved[step.name] = 0
                self._log_failure(step.name, error)
        self.ticks += 1
        return moved

    def _due(self, step: WorkerStep) -> bool:
        now = time.monotonic_ns() // 1_000_000
        last = self._last_run_ms.get(step.name)
        if step.every_ms and last is not None and now - last < step.every_ms:
            return False
        self._last_run_ms[step.name] = now
        return True

    def _log_failure(self, name: str, error: Exception) -> None:
        text = f"{type(error).__name__}: {error}"
        if self._last_error.get(name) == text:
            logger.debug("worker step %s failed again: %s", name, text)
            return
        self._last_error[name] = text
        logger.exception("worker step %s failed: %s", name, text)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="paynode-workers", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval_ms / 1000)


def start_scheduler(runtime: Runtime | None) -> Scheduler | None:
    """The node's scheduler, started, when it has a chain to work with and an interval > 0."""
    if runtime is None or runtime.chain is None or runtime.settings.worker_interval_ms <= 0:
        return None
    scheduler = Scheduler(runtime)
    scheduler.start()
    return scheduler
