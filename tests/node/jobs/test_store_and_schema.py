"""The kit's job table (a file of the agent's own: claims, restarts), the MIP-003 input checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from node.jobs.schemas import InputField
from node.jobs.store import SCHEMA as SCHEMA_SQL
from node.jobs.store import Job, JobStore
from node.jobs.validate import InputError, check_input


def a_job(job_id: str = "ab" * 32) -> Job:
    return Job(
        id=job_id, agent_identifier="cd" * 30, identifier_from_purchaser="00112233445566",
        input_data={"text": "hi"}, input_hash="ef" * 32, blockchain_identifier=f"bi-{job_id}",
        request_id=job_id, status="awaiting_payment",
        amounts=[{"amount": "1000000", "unit": "lovelace"}], quote_id=None, quote=None,
        submit_result_time=1,
    )  # fmt: skip


def test_a_job_is_claimed_once_and_an_interrupted_one_runs_again(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "jobs.sqlite"
    store = JobStore(path)
    store.add(a_job())
    finished = a_job("cd" * 32)
    store.add(finished)
    assert store.claim(finished.id)
    store.update(finished.id, result="done", result_hash="00" * 32, usage={"requests": 1})
    assert store.claim(a_job().id) and not store.claim(a_job().id)
    store.close()

    reopened = JobStore(path)  # the agent restarts: the job whose handler ran has no result
    assert reopened.requeue_interrupted() == 1
    assert [job.id for job in reopened.pending()] == [a_job().id, finished.id]
    kept = reopened.get(finished.id)
    assert kept is not None and kept.status == "running" and kept.usage == {"requests": 1}
    with pytest.raises(ValueError, match="not columns"):
        reopened.update(finished.id, nope=1)


def test_an_older_job_table_gets_the_input_columns_and_input_is_taken_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    old_schema = SCHEMA_SQL.split("    input_schema TEXT,")[0].rstrip().rstrip(",") + "\n)"
    with sqlite3.connect(path) as db:  # the table as the first release made it
        db.execute(old_schema)
    store = JobStore(path)
    store.add(a_job())
    asked = [{"id": "tone", "type": "text"}]
    store.update(a_job().id, status="awaiting_input", input_schema=asked)
    waiting = store.get(a_job().id)
    assert waiting is not None and waiting.input_schema == asked and waiting.provided_input == []
    assert store.provide(a_job().id, {"tone": "dry"}) and not store.provide(a_job().id, {})
    given = store.get(a_job().id)
    assert given is not None and given.status == "input_provided" and given.input_schema is None
    assert given.provided_input == [{"tone": "dry"}]
    assert [job.id for job in store.pending()] == [a_job().id]  # the poller resumes it
    assert store.claim(a_job().id, "input_provided")
    assert not store.claim(a_job().id, "input_provided")
    store.close()


SCHEMA = [
    InputField.model_validate(field)
    for field in (
        {"id": "email", "type": "email"},
        {"id": "count", "type": "number", "validations": [
            {"validation": "min", "value": "1"}, {"validation": "max", "value": "10"}]},
        {"id": "agree", "type": "boolean", "validations": [
            {"validation": "optional", "value": "true"}]},
        {"id": "tier", "type": "option", "data": {"values": ["basic", "pro"]},
         "validations": [{"validation": "optional", "value": "true"}]},
        {"id": "note", "type": "text", "validations": [
            {"validation": "optional", "value": "true"}, {"validation": "max", "value": "5"}]},
    )
]  # fmt: skip
GOOD = {"email": "ada@example.com", "count": 3}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not an email"}, "input_data.email"),
        ({"count": 0}, "input_data.count"),
        ({"count": "3"}, "input_data.count"),
        ({"count": True}, "input_data.count"),
        ({"agree": "yes"}, "input_data.agree"),
        ({"tier": "gold"}, "input_data.tier"),
        ({"note": "too long"}, "input_data.note"),
        ({"extra": 1}, "input_data.extra"),
    ],
)
def test_input_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as refused:
        check_input(SCHEMA, {**GOOD, **changes})
    assert refused.value.field == field


def test_input_accepted() -> None:
    check_input(SCHEMA, GOOD)
    check_input(SCHEMA, {**GOOD, "agree": False, "tier": ["pro"], "note": "ok", "count": 10})
    with pytest.raises(InputError, match="is required"):
        check_input(SCHEMA, {"count": 1})
