"""Property: filter values are parameters, never SQL, and LIKE wildcards match literally.

The jobs list (``Client.jobs``, ``queueconsole jobs``, the console's filter bar)
takes text from whoever types it. A quote or ``; DROP TABLE`` must not change
the statement, and ``%``, ``_`` and ``\\`` in the text must match those
characters, not "anything": the result is compared with a plain substring
search done in Python over the same jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from engine.client import Client
from engine.db.database import Database
from engine.snapshots import JobFilter
from engine.store import transitions
from engine.store.transitions import Failure
from tests.properties.conftest import DB_SETTINGS, NASTY_STRINGS
from tests.support.flow import claim

INJECTION = "'; DROP TABLE jobs; --"
KEYS = (
    "100%",
    "100 percent",
    "a_b",
    "axb",
    "a\\b",
    "a\\\\b",
    INJECTION,
    "O'Brien",
    "plain",
    "x%_\\y",
)
ERRORS = ("50% done", "under_score", "C:\\temp", "quote \" and '", "%%", "__")


@dataclass(frozen=True)
class Row:
    id: int
    type: str
    queue: str
    texts: tuple[str, ...]
    """type, error message, key and wait reason: what the free text matches."""


@pytest.fixture
async def population(client: Client, db: Database) -> list[Row]:
    """Jobs whose keys and errors hold every character LIKE treats specially."""
    for i, key in enumerate(KEYS):
        await client.submit(f"t_{i % 3}", queue=("q_1", "q-1", "q1")[i % 3], idempotency_key=key)
    for message in ERRORS:
        job = await client.submit("failing", max_retries=0)
        c = await claim(db, job.id)
        await db.run(
            lambda conn, j=job.id, a=c.attempt, m=message: transitions.fail(
                conn, [Failure(j, a, "Err", m, retryable=False)]
            )
        )
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT id, type, queue, error_message, idempotency_key, wait_reason FROM jobs")
        )
        return [
            Row(
                r.id,
                r.type,
                r.queue,
                tuple(t for t in (r.type, r.error_message, r.idempotency_key, r.wait_reason) if t),
            )
            for r in rows
        ]


def expected_text_matches(rows: list[Row], needle: str) -> set[int]:
    """What ``--text needle`` means: a case-insensitive substring, or the id."""
    lowered = needle.lower()
    return {
        r.id
        for r in rows
        if any(lowered in t.lower() for t in r.texts) or str(r.id) == needle.strip()
    }


needles = st.one_of(
    st.text(alphabet="%_\\'\";- aAbBxX01", min_size=1, max_size=6),
    st.sampled_from([*KEYS, *ERRORS, *NASTY_STRINGS, "%", "_", "\\", "\\%", "t_", "q_"]),
)


async def _all_tables_intact(db: Database, jobs: int) -> None:
    async with db.connection() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM jobs")) == jobs
        for table in ("job_dependencies", "job_events", "workflows"):
            await conn.scalar(text(f"SELECT count(*) FROM {table}"))  # still exists


@DB_SETTINGS
@given(needle=needles)
async def test_free_text_matches_literally(client, db, population, needle):
    page = await client.jobs(JobFilter(text=needle), limit=1000)
    found = {j.id for j in page.items}
    if needle:
        assert found == expected_text_matches(population, needle)
    else:
        assert found == {r.id for r in population}  # empty text: no filter
    await _all_tables_intact(db, len(population))


@DB_SETTINGS
@given(value=needles)
async def test_queue_and_type_filters_are_exact(client, db, population, value):
    by_queue = await client.jobs(JobFilter(queue=value), limit=1000)
    assert {j.id for j in by_queue.items} == {r.id for r in population if r.queue == value}
    by_type = await client.jobs(JobFilter(type=value), limit=1000)
    assert {j.id for j in by_type.items} == {r.id for r in population if r.type == value}
    await _all_tables_intact(db, len(population))


async def test_wildcards_do_not_widen_a_match(client, db, population):
    """The cases a person would try first, spelled out."""

    async def ids(**kw: str) -> set[int]:
        return {j.id for j in (await client.jobs(JobFilter(**kw), limit=1000)).items}

    key_of = {r.id: next((t for t in r.texts if t in KEYS), None) for r in population}
    assert {key_of[i] for i in await ids(text="100%")} == {"100%"}
    assert {key_of[i] for i in await ids(text="a_b")} == {"a_b"}
    assert {key_of[i] for i in await ids(text="a\\b")} == {"a\\b"}
    assert {key_of[i] for i in await ids(text="\\\\")} == {"a\\\\b"}
    assert {key_of[i] for i in await ids(text=INJECTION)} == {INJECTION}
    assert await ids(queue="q_1") != await ids(queue="q-1")
    assert await ids(queue="q%") == set()
    assert await ids(type="t__") == set()
    assert await ids(text="\x00") == set()
    assert await ids(text="%") == {r.id for r in population if any("%" in t for t in r.texts)}


async def test_ids_beyond_bigint_are_not_found_rather_than_a_driver_error(client, db):
    from engine.errors import JobNotFound

    huge = 2**64
    for call in (client.job, client.cancel, client.retry, client.preview_cancel):
        with pytest.raises(JobNotFound, match="does not exist"):
            await call(huge)
    assert (await client.jobs(JobFilter(workflow_id=huge))).items == ()
    job = await client.submit("demo.noop")
    assert [j.id for j in (await client.jobs(before=huge)).items] == [job.id]
