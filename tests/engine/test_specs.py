"""Validation of what callers submit: every refusal names the job and the problem."""

import pytest

from engine.errors import CycleError, ValidationError
from engine.specs import JobSpec, parse_workflow, prepare


def one(**kw):
    return prepare([JobSpec(**{"type": "demo.noop", **kw})], workflow=False)[0]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"type": ""}, "type is empty"),
        ({"type": "   "}, "type is empty"),
        ({"type": "bad type!"}, "is not a job type name"),
        ({"payload": [1, 2]}, "payload must be a JSON object, not list"),
        ({"payload": None}, "payload must be a JSON object, not null"),
        ({"payload": {"x": float("nan")}}, "payload is not valid JSON"),
        ({"payload": {"x": object()}}, "payload is not JSON"),
        ({"payload": {"x": "a" * (1024 * 1024)}}, "the limit is 1,048,576"),
        ({"payload": {"x": "nul\x00"}}, "NUL character"),
        ({"payload": {"x": "\ud800"}}, "not valid Unicode"),
        ({"priority": "urgent"}, "unknown priority 'urgent'"),
        ({"max_retries": -1}, "max_retries must not be negative"),
        ({"max_retries": 1.5}, "max_retries must be a whole number"),
        ({"timeout_s": -3}, "timeout must be a positive number"),
        ({"timeout_s": 0}, "timeout must be a positive number"),
        ({"memory_mb": 0}, "memory_mb must be at least 1"),
        ({"queue": ""}, "is not a queue name"),
        ({"queue": "a b"}, "is not a queue name"),
        ({"idempotency_key": ""}, "idempotency key must be"),
        ({"depends_on": [0]}, "dependency 0 is not a job id"),
        ({"depends_on": ["x"]}, "dependency 'x' is not a job id"),
        ({"depends_on": [True]}, "is not a job id"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(kw, message):
    with pytest.raises(ValidationError) as info:
        one(**kw)
    assert message in str(info.value)
    assert str(info.value).startswith("job")


def test_deep_payload_is_refused():
    payload: dict = {}
    inner = payload
    for _ in range(100):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(ValidationError, match="nested deeper than 64"):
        one(payload=payload)


def test_a_string_that_merely_looks_like_an_escaped_nul_is_fine():
    assert one(payload={"x": "\\u0000"}).payload_json == '{"x":"\\\\u0000"}'


def test_priorities_by_name_and_number():
    assert one(priority="critical").priority == 3
    assert one(priority="LOW").priority == 0
    assert one(priority=2).priority == 2


def wf(*specs):
    return prepare([JobSpec(type="demo.noop", **s) for s in specs], workflow=True)


def test_workflow_is_returned_in_dependency_order():
    order = wf({"ref": "c", "depends_on": ["b"]}, {"ref": "b", "depends_on": ["a"]}, {"ref": "a"})
    assert [p.ref for p in order] == ["a", "b", "c"]


def test_cycle_is_named():
    with pytest.raises(CycleError) as info:
        wf(
            {"ref": "a", "depends_on": ["c"]},
            {"ref": "b", "depends_on": ["a"]},
            {"ref": "c", "depends_on": ["b"]},
            {"ref": "d"},
        )
    assert set(info.value.cycle) == {"a", "b", "c"}
    assert str(info.value).startswith("dependency cycle: ")


def test_self_dependency_is_refused():
    with pytest.raises(ValidationError, match="job 'a' depends on itself"):
        wf({"ref": "a", "depends_on": ["a"]})


def test_unknown_ref_is_refused():
    with pytest.raises(ValidationError, match="depends on 'zz', which is not a ref"):
        wf({"ref": "a", "depends_on": ["zz"]})


def test_duplicate_ref_is_refused():
    with pytest.raises(ValidationError, match="ref 'a' is used by more than one job"):
        wf({"ref": "a"}, {"ref": "a"})


def test_big_workflow_with_long_chain_does_not_recurse():
    n = 20_000
    specs = [{"ref": f"j{i}", "depends_on": [f"j{i - 1}"] if i else []} for i in range(n)]
    assert len(wf(*specs)) == n


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must hold a JSON object"),
        ({"jobs": []}, '"jobs" must be a non-empty list'),
        ({"jobs": [1]}, "job #1 must be an object"),
        ({"jobs": [{"ref": "a"}]}, "job #1 ('a'): type is missing"),
        ({"jobs": [{"type": "x", "colour": 1}]}, "unknown key(s) 'colour'"),
        ({"jobs": [{"type": "x", "depends_on": "a"}]}, "depends_on must be a list"),
        ({"jobs": [], "extra": 1}, "unknown key(s) 'extra'"),
    ],
)
def test_workflow_file_structure_errors(doc, message):
    with pytest.raises(ValidationError) as info:
        parse_workflow(doc)
    assert message in str(info.value)
