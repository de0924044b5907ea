"""The agent's jobs, in a small SQLite table of the agent's own (stdlib sqlite3).

Why a table and not memory: once a buyer has locked funds for a job, the agent owes the work.
An agent that restarts must still find the job, run it and submit its result before the
submit-result time, or the buyer's money only comes back as a refund. Why not the node's
database: the kit is what an agent mounts in its own app, usually far from the node, and it
must not depend on the node's migrations. `":memory:"` keeps them in memory (tests).

Claiming a job to run it is one conditional UPDATE, so the handler runs once even with several
pollers (or a restart in the middle of a poll).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.clock import now_ms

SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_job (
    id TEXT PRIMARY KEY,
    agent_identifier TEXT NOT NULL,
    identifier_from_purchaser TEXT NOT NULL,
    input_data TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    blockchain_identifier TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    amounts TEXT NOT NULL,
    quote_id TEXT,
    quote TEXT,
    submit_result_time INTEGER NOT NULL,
    result TEXT,
    result_hash TEXT,
    usage TEXT,
    submitted INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    input_schema TEXT,
    provided_input TEXT NOT NULL DEFAULT '[]'
)
"""
# Columns added since the first release, added to an older agent's table when it opens.
ADDED_COLUMNS = {
    "input_schema": "input_schema TEXT",
    "provided_input": "provided_input TEXT NOT NULL DEFAULT '[]'",
}
COLUMNS = (
    "id", "agent_identifier", "identifier_from_purchaser", "input_data", "input_hash",
    "blockchain_identifier", "request_id", "status", "amounts", "quote_id", "quote",
    "submit_result_time",
    "result", "result_hash", "usage", "submitted", "message", "created_at", "updated_at",
    "input_schema", "provided_input",
)  # fmt: skip
JSON_COLUMNS = ("usage", "input_schema", "provided_input")
# Statuses of the store beyond MIP-003's: input was provided and the handler is to run again
# (shown as `running`).
INPUT_PROVIDED = "input_provided"


@dataclass
class Job:
    """One job: what the buyer asked, what it pays, and what became of it."""

    id: str
    agent_identifier: str
    identifier_from_purchaser: str
    input_data: dict[str, Any]
    input_hash: str
    blockchain_identifier: str
    request_id: str
    status: str
    amounts: list[dict[str, str]]
    quote_id: str | None
    quote: dict[str, Any] | None
    submit_result_time: int
    result: str | None = None
    result_hash: str | None = None
    usage: dict[str, Any] | None = None
    submitted: bool = False
    message: str | None = None
    created_at: int = field(default_factory=now_ms)
    updated_at: int = field(default_factory=now_ms)
    # what the handler asked for when it raised AwaitingInput (`awaiting_input`), and every
    # input_data /provide_input brought since, oldest first
    input_schema: list[dict[str, Any]] | None = None
    provided_input: list[dict[str, Any]] = field(default_factory=list)


def _row(job: Job) -> tuple[Any, ...]:
    values = {
        **job.__dict__,
        "input_data": json.dumps(job.input_data),
        "amounts": json.dumps(job.amounts),
        "quote": None if job.quote is None else json.dumps(job.quote),
        "usage": None if job.usage is None else json.dumps(job.usage),
        "input_schema": None if job.input_schema is None else json.dumps(job.input_schema),
        "provided_input": json.dumps(job.provided_input),
        "submitted": int(job.submitted),
    }
    return tuple(values[column] for column in COLUMNS)


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["input_data"] = json.loads(values["input_data"])
    values["amounts"] = json.loads(values["amounts"])
    values["quote"] = None if values["quote"] is None else json.loads(values["quote"])
    for name in JSON_COLUMNS:
        values[name] = None if values[name] is None else json.loads(values[name])
    values["provided_input"] = values["provided_input"] or []
    values["submitted"] = bool(values["submitted"])
    return Job(**values)


class JobStore:
    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(agent_job)")}
            for name, definition in ADDED_COLUMNS.items():
                if name not in present:
                    self._db.execute(f"ALTER TABLE agent_job ADD COLUMN {definition}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, job: Job) -> None:
        marks = ", ".join("?" for _ in COLUMNS)
        with self._lock:
            self._db.execute(
                f"INSERT INTO agent_job ({', '.join(COLUMNS)}) VALUES ({marks})", _row(job)
            )

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM agent_job WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def pending(self) -> list[Job]:
        """Jobs still waiting for their funds, and results not yet accepted by the node."""
        query = (
            "SELECT * FROM agent_job WHERE status IN ('awaiting_payment', 'input_provided') "
            "OR (status = 'running' AND result_hash IS NOT NULL AND submitted = 0) "
            "ORDER BY created_at"
        )
        with self._lock:
            rows = self._db.execute(query).fetchall()
        return [_job(row) for row in rows]

    def claim(self, job_id: str, status: str = "awaiting_payment") -> bool:
        """`status` (awaiting_payment, input_provided) → running, once: True for the one caller
        that moved it."""
        with self._lock:
            moved = self._db.execute(
                "UPDATE agent_job SET status = 'running', updated_at = ? "
                "WHERE id = ? AND status = ?",
                (now_ms(), job_id, status),
            )
        return moved.rowcount == 1

    def provide(self, job_id: str, input_data: dict[str, Any]) -> bool:
        """awaiting_input → input_provided with `input_data` added to the job's provided input,
        once: True for the one caller that moved it."""
        with self._lock:
            row = self._db.execute(
                "SELECT provided_input FROM agent_job WHERE id = ? AND status = 'awaiting_input'",
                (job_id,),
            ).fetchone()
            if row is None:
                return False
            provided = [*json.loads(row[0] or "[]"), input_data]
            moved = self._db.execute(
                "UPDATE agent_job SET status = ?, provided_input = ?, input_schema = NULL, "
                "message = NULL, updated_at = ? WHERE id = ? AND status = 'awaiting_input'",
                (INPUT_PROVIDED, json.dumps(provided), now_ms(), job_id),
            )
        return moved.rowcount == 1

    def requeue_interrupted(self) -> int:
        """Jobs whose handler was running when the agent stopped (no result yet) wait for their
        funds again, so the poller runs them anew: the buyer has paid for the work."""
        with self._lock:
            moved = self._db.execute(
                "UPDATE agent_job SET status = 'awaiting_payment', updated_at = ? "
                "WHERE status = 'running' AND result_hash IS NULL",
                (now_ms(),),
            )
        return moved.rowcount

    def update(self, job_id: str, **values: Any) -> None:
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"not columns of agent_job: {sorted(unknown)}")
        encoded = {
            key: json.dumps(value) if key in JSON_COLUMNS and value is not None else value
            for key, value in values.items()
        }
        encoded = {k: int(v) if isinstance(v, bool) else v for k, v in encoded.items()}
        encoded["updated_at"] = now_ms()
        assignments = ", ".join(f"{key} = ?" for key in encoded)
        with self._lock:
            self._db.execute(
                f"UPDATE agent_job SET {assignments} WHERE id = ?", (*encoded.values(), job_id)
            )
