"""Property: whatever a caller hands ``Client.submit*``, it gets a job or one readable error.

Random payloads (nested, deep, huge, NaN and infinities, lone surrogates, NUL,
control characters, keys that are not strings), random names, priorities,
numbers and dependency lists. A refusal is a :class:`UserError` with a
one-line message and leaves every table as it was; an acceptance stores
exactly what was asked for. Anything else (a driver error, a TypeError, an
OverflowError) is a bug and fails the test with its traceback.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.client import Client
from engine.db.database import Database
from engine.errors import UserError
from engine.specs import MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, JobSpec
from engine.states import State
from tests.properties.conftest import DB_SETTINGS, nasty_text, row_counts

T = TypeVar("T")

TYPE_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,199}")
QUEUE_RULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
EXISTING = object()
"""Stands for the id of a job that exists (resolved when the example runs)."""

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**64), 10**400, 10**4000]),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
keys = st.one_of(
    nasty_text,
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.tuples(st.integers()),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16,
)


def _nested(depth: int, kind: str) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value] if kind == "list" else {"k": value}
    return {"k": value}


payloads = st.one_of(
    st.dictionaries(keys, values, max_size=6),
    st.builds(_nested, st.integers(1, 3000), st.sampled_from(["list", "dict"])),
    # Exactly at, and one byte over, the size limit: {"blob":"xxx…"} is 11 bytes + n.
    st.builds(
        lambda n: {"blob": "x" * n},
        st.sampled_from([MAX_PAYLOAD_BYTES - 11, MAX_PAYLOAD_BYTES - 10]),
    ),
    st.builds(lambda v: MappingProxyType({"v": v}), values),
    st.sampled_from(
        [None, [], [1], "text", 5, {"s": {1, 2}}, {"b": b"raw"}, {"d": Decimal("1.5")}]
    ),
)
types = st.one_of(
    st.sampled_from(["demo.noop", "x", "a:b-c_d.e", "_", "a" * 200, "a" * 201]),
    st.sampled_from(["demo.noop\n", " demo.noop", "1abc", "os.system()", "a b"]),
    nasty_text,
    st.integers(),
    st.none(),
)
queues = st.one_of(
    st.sampled_from(["default", "q-1", "Q.2_x", "a" * 64, "a" * 65, ".x", "-x", "default\n"]),
    nasty_text,
    st.none(),
    st.integers(),
)
priorities = st.one_of(
    st.sampled_from(["critical", "high", "normal", "low", " HIGH ", "urgent", ""]),
    st.integers(-2, 5),
    st.sampled_from([2**80, 1.0, True, None, float("nan")]),
    nasty_text,
)
dependency_lists = st.one_of(
    st.lists(
        st.one_of(
            st.just(EXISTING),
            st.integers(),
            st.sampled_from([2**63 - 1, 2**63, 10**30]),
            st.booleans(),
            st.none(),
            st.text(max_size=2),
        ),
        max_size=4,
    ),
    st.sampled_from(["12", None, 7, b"1"]),
)
counts = st.one_of(st.integers(-5, 1005), st.sampled_from([True, 2.5, "3", None, 2**70]))
seconds = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10**6),
    st.sampled_from([10**400, "5", True, 7 * 24 * 3600, 7 * 24 * 3600 + 1]),
)
idempotency_keys = st.one_of(
    st.none(), nasty_text, st.sampled_from(["k" * 512, "k" * 513]), st.integers()
)


async def _existing(client: Client) -> int:
    return (await client.submit("demo.noop")).id


def _resolve(deps: Any, existing: int) -> Any:
    if isinstance(deps, list):
        return [existing if d is EXISTING else d for d in deps]
    return deps


async def outcome(db: Database, call: Awaitable[T]) -> T | None:
    """The call's result, or None after checking it refused cleanly and wrote nothing."""
    before = await row_counts(db)
    try:
        return await call
    except UserError as exc:
        message = str(exc)
        assert message.strip(), "an error without a message"
        assert len(message.splitlines()) == 1, f"not one line: {message!r}"
        assert await row_counts(db) == before, f"refused ({message}) but rows were written"
        return None


def _roundtrip(payload: Any) -> Any:
    """What a reader should get back: the payload after one trip through JSON."""
    return json.loads(json.dumps(payload, allow_nan=False))


@DB_SETTINGS
@given(
    type_=types,
    payload=payloads,
    queue=queues,
    priority=priorities,
    depends_on=dependency_lists,
    key=idempotency_keys,
    max_retries=counts,
    timeout_s=seconds,
    memory_mb=st.one_of(st.none(), counts),
    ttl_s=seconds,
    backoff_s=seconds,
)
async def test_submit_stores_what_was_asked_or_refuses_cleanly(
    client,
    db,
    type_,
    payload,
    queue,
    priority,
    depends_on,
    key,
    max_retries,
    timeout_s,
    memory_mb,
    ttl_s,
    backoff_s,
):
    existing = await _existing(client)
    submitted = await outcome(
        db,
        client.submit(
            type_,
            payload,
            queue=queue,
            priority=priority,
            depends_on=_resolve(depends_on, existing),
            idempotency_key=key,
            max_retries=max_retries,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            ttl_s=ttl_s,
            backoff_s=backoff_s,
        ),
    )
    if submitted is None:
        return
    job = await client.job(submitted.id)
    assert TYPE_RULE.fullmatch(job.type) and job.type == type_
    assert QUEUE_RULE.fullmatch(job.queue) and job.queue == queue
    assert job.payload == _roundtrip({} if payload is None else dict(payload))
    assert job.idempotency_key == key
    assert job.max_retries == max_retries
    assert job.timeout_s == (None if timeout_s is None else float(timeout_s))
    assert job.timeout_s is None or math.isfinite(job.timeout_s)
    deps = {existing if d is EXISTING else d for d in depends_on}
    assert {j.id for j in job.upstream} == deps
    assert job.state is (State.PENDING if deps else State.QUEUED)


@DB_SETTINGS
@given(
    payload=payloads,
    depth=st.integers(MAX_PAYLOAD_DEPTH - 2, MAX_PAYLOAD_DEPTH + 2),
)
async def test_payload_limits_are_exact(client, db, payload, depth):
    """The documented limits (64 levels, 1 MiB) hold to the level and to the byte."""
    deep = _nested(depth, "dict")
    job = await outcome(db, client.submit("demo.noop", deep))
    assert (job is not None) == (depth <= MAX_PAYLOAD_DEPTH)
    if isinstance(payload, dict) and set(payload) == {"blob"}:
        size = len(json.dumps(payload, separators=(",", ":")))
        job = await outcome(db, client.submit("demo.noop", payload))
        assert (job is not None) == (size <= MAX_PAYLOAD_BYTES)


specs = st.builds(
    JobSpec,
    type=types,
    payload=payloads,
    queue=queues,
    priority=priorities,
    depends_on=dependency_lists,
    idempotency_key=idempotency_keys,
    max_retries=counts,
    timeout_s=seconds,
    ref=st.one_of(st.none(), nasty_text),
)


@DB_SETTINGS
@given(batch=st.lists(specs, max_size=4), as_workflow=st.booleans(), name=st.none() | nasty_text)
async def test_submit_many_and_workflows_are_all_or_nothing(client, db, batch, as_workflow, name):
    existing = await _existing(client)
    batch = [
        JobSpec(
            **{f: getattr(s, f) for f in JobSpec.__slots__ if f != "depends_on"},
            depends_on=_resolve(s.depends_on, existing),
        )
        for s in batch
    ]
    before = await row_counts(db)
    if as_workflow:
        result = await outcome(db, client.submit_workflow(batch, name=name))
        new = None if result is None else list(result.jobs.values())
    else:
        new = await outcome(db, client.submit_many(batch))
    if new is None:
        return
    fresh = [s for s in new if not s.duplicate]
    after = await row_counts(db)
    assert after["jobs"] - before["jobs"] == len(fresh)
    assert after["job_events"] - before["job_events"] == len(fresh)
    for s in fresh:
        job = await client.job(s.id)
        assert TYPE_RULE.fullmatch(job.type) and QUEUE_RULE.fullmatch(job.queue)


# -- dependency structure, with every other field valid ---------------------------

REFS = ("a", "b", "c", "d")


@st.composite
def workflows(draw: st.DrawFn) -> list[tuple[str | None, list[Any]]]:
    """Jobs as (ref, depends_on): refs may repeat, deps may loop, miss or name ids."""
    n = draw(st.integers(0, 5))
    dep = st.one_of(
        st.sampled_from(REFS),
        st.just("zz"),
        st.just(EXISTING),
        st.sampled_from([10**9, 2**62]),
    )
    return [
        (draw(st.one_of(st.sampled_from(REFS), st.none())), draw(st.lists(dep, max_size=3)))
        for _ in range(n)
    ]


def expected_problems(jobs: list[tuple[str | None, list[Any]]]) -> list[str]:
    """The phrases a refusal of this workflow may use; empty when it must be accepted."""
    if not jobs:
        return ["nothing to submit"]
    problems = []
    refs = [r if r is not None else f"#{i + 1}" for i, (r, _) in enumerate(jobs)]
    if len(set(refs)) < len(refs):
        problems.append("used by more than one job")
    graph: dict[str, set[str]] = {}
    for ref, (_, deps) in zip(refs, jobs, strict=True):
        for d in deps:
            if isinstance(d, int):
                problems.append("not exist")
            elif d is EXISTING:
                continue
            elif d == ref:
                problems.append("depends on itself")
            elif d not in refs:
                problems.append("not a ref in this workflow")
            else:
                graph.setdefault(ref, set()).add(d)
    if _has_cycle(graph):
        problems.append("dependency cycle")
    return problems


def _has_cycle(graph: dict[str, set[str]]) -> bool:
    done: set[str] = set()

    def visit(node: str, path: set[str]) -> bool:
        if node in path:
            return True
        if node in done:
            return False
        path.add(node)
        found = any(visit(n, path) for n in graph.get(node, ()))
        path.discard(node)
        done.add(node)
        return found

    return any(visit(n, set()) for n in list(graph))


@DB_SETTINGS
@given(jobs=workflows())
async def test_workflow_graph_is_refused_exactly_when_it_is_wrong(client, db, jobs):
    existing = await _existing(client)
    batch = [
        JobSpec("demo.noop", ref=ref, depends_on=_resolve(deps, existing)) for ref, deps in jobs
    ]
    problems = expected_problems(jobs)
    before = await row_counts(db)
    try:
        result = await client.submit_workflow(batch, name="property")
    except UserError as exc:
        assert problems, f"a valid workflow was refused: {exc}"
        assert any(p in str(exc) for p in problems), (str(exc), problems)
        assert await row_counts(db) == before
        return
    assert not problems, f"accepted although {problems}"
    after = await row_counts(db)
    assert after["jobs"] - before["jobs"] == len(jobs)
    assert after["workflows"] - before["workflows"] == 1
    edges = sum(len({existing if d is EXISTING else d for d in deps}) for _, deps in jobs)
    assert after["job_dependencies"] - before["job_dependencies"] == edges
    for i, (ref, deps) in enumerate(jobs):
        state = result.jobs[ref if ref is not None else f"#{i + 1}"].state
        assert state is (State.PENDING if deps else State.QUEUED)


HUGE = 10**5000  # more digits than Python will print: repr() itself raises
"""Kept out of the strategies above, whose failure reports repr() every value."""


@pytest.mark.parametrize(
    "field",
    [
        "max_retries",
        "timeout_s",
        "memory_mb",
        "ttl_s",
        "priority",
        "queue",
        "depends_on",
        "payload",
    ],
)
async def test_a_number_too_long_to_print_is_refused_in_one_line(client, db, field):
    kwargs: dict[str, Any] = {field: HUGE}
    if field == "depends_on":
        kwargs[field] = [HUGE]
    if field == "payload":
        kwargs[field] = {"n": HUGE}
    assert await outcome(db, client.submit("demo.noop", **kwargs)) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type": "demo.noop\n"},
        {"queue": "default\n"},
        {"idempotency_key": "\ud800"},
        {"idempotency_key": "a\x00b"},
        {"timeout_s": 10**400},
        {"depends_on": None},
        {"depends_on": "12"},
    ],
    ids=repr,
)
async def test_inputs_that_once_broke_submit_are_refused(client, db, kwargs):
    """Each of these was accepted, or raised from the driver, before it was fixed."""
    kwargs = {"type": "demo.noop", **kwargs}
    job_type = kwargs.pop("type")
    assert await outcome(db, client.submit(job_type, **kwargs)) is None


@pytest.mark.parametrize(
    ("name", "ref"),
    [("a\x00b", None), ("x\udcff", None), (5, None), (None, "\ud800")],
    ids=repr,
)
async def test_workflow_names_and_refs_that_once_broke_are_refused(client, db, name, ref):
    workflow = client.submit_workflow([JobSpec("demo.noop", ref=ref)], name=name)
    assert await outcome(db, workflow) is None
