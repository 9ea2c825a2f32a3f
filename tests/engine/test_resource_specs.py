"""Resource requests as submitted: cpu is validated by name, carried by workflow files,
and reasons describe requests and capacities in the same words."""

from __future__ import annotations

import pytest

from engine.errors import ValidationError
from engine.resources import Capacity, describe_request
from engine.specs import JobSpec, parse_workflow, prepare


@pytest.mark.parametrize(
    ("cpu", "message"),
    [
        (0, "cpu must be a positive number of cores"),
        (-0.5, "cpu must be a positive number of cores"),
        (float("nan"), "cpu must be a positive number of cores"),
        (float("inf"), "cpu must be at most 1024 cores"),
        (10**400, "cpu must be at most 1024 cores"),
        ("2", "cpu must be a number of cores, not"),
        (True, "cpu must be a number of cores, not"),
    ],
)
def test_a_bad_cpu_request_is_refused_naming_the_job(cpu: object, message: str) -> None:
    specs = [JobSpec("demo.noop", ref="fine", cpu=1), JobSpec("demo.noop", ref="resize", cpu=cpu)]  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=message) as err:
        prepare(specs, workflow=True)
    assert "'resize'" in str(err.value)


def test_fractional_cpu_is_kept_and_absent_means_no_request() -> None:
    jobs = prepare([JobSpec("demo.noop", cpu=0.25), JobSpec("demo.noop")], workflow=False)
    assert [j.cpu for j in jobs] == [0.25, None]


def test_a_workflow_file_carries_cpu() -> None:
    _, specs = parse_workflow(
        {"jobs": [{"ref": "a", "type": "demo.noop", "cpu": 1.5, "memory_mb": 64}]}
    )
    assert specs[0].cpu == 1.5 and specs[0].memory_mb == 64


def test_capacity_names_requests_and_the_largest_worker() -> None:
    largest = Capacity(workers=2, cpus=2.0, memory_mb=512)
    assert describe_request(0.5, 200) == "0.5 cores and 200 MiB"
    assert describe_request(1, None) == "1 core"
    assert largest.describe() == "2 cores and 512 MiB"
    assert largest.fits(2, 512) and not largest.fits(2.5, None) and not largest.fits(None, 513)
    assert Capacity(workers=1, cpus=1.0, memory_mb=None, memory_unlimited=True).fits(1, 10**6)
    assert Capacity(0, None, None).describe() == "none (no live worker)"
    assert not Capacity(0, None, None).fits(None, None)
