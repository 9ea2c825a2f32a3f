"""What a caller asks for (:class:`JobSpec`) and its validation.

Validation is pure and complete before anything touches the database, so a
bad submission writes nothing and its error names the job and the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.dag import find_cycle, topological_order
from engine.errors import CycleError, ValidationError, shown
from engine.priority import Priority
from engine.routes import NO_ROUTES, Routes

MAX_PAYLOAD_BYTES = 1024 * 1024  # 1 MiB of UTF-8 JSON
MAX_PAYLOAD_DEPTH = 64  # nesting levels; PostgreSQL and every reader must cope
MAX_RETRIES = 1000
MAX_TIMEOUT_S = 7 * 24 * 3600.0  # a week
MAX_TYPE_LENGTH = 200
MAX_KEY_LENGTH = 512
MAX_CPU = 1024.0  # cores one job may request: more than any single machine offers
MAX_WORKFLOW_JOBS = 100_000
DEFAULT_BACKOFF_S = 1.0  # seconds before the first retry; doubles with each later one
DEFAULT_BACKOFF_MAX_S = 300.0  # seconds: the longest wait between two attempts

# ``\Z``, not ``$``: ``$`` also matches before a trailing newline, which let
# "demo.noop\n" through as a type (and a queue name into the broker's names).
_TYPE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*\Z")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
DEFAULT_TENANT = "default"  # the tenant of a job submitted without one (and of old rows)
_REF_RE = re.compile(r"^[^\x00-\x1f\x7f\ud800-\udfff]{1,200}\Z")
_UNSTORABLE_RE = re.compile(r"[\x00\ud800-\udfff]")
_NUL_ESCAPE_RE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job to submit.

    ``depends_on`` holds ids of existing jobs (ints) and, inside a workflow,
    ``ref`` names of other specs of the same submission (strings). ``queue`` and
    ``priority`` left as None mean "not given": the installation's routing rules
    (:mod:`engine.routes`) decide, else ``default`` and ``normal``.
    """

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: Priority | str | int | None = None
    depends_on: Sequence[int | str] = ()
    idempotency_key: str | None = None
    max_retries: int = 3
    timeout_s: float | None = None
    memory_mb: int | None = None
    ttl_s: float | None = None
    backoff_s: float = DEFAULT_BACKOFF_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    ref: str | None = None
    cpu: float | None = None
    """Cores the job needs while it runs (fractional); a worker starts it only when its
    running jobs' requests plus this one fit its ``--cpus``."""
    tenant: str = DEFAULT_TENANT
    """Who the job belongs to: its limits, its share of a shared queue, which tokens see it.
    Every job of a workflow has the same tenant."""


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A validated spec, its payload already serialized once for size check and insert."""

    ref: str
    label: str
    """How error messages name this job: ``job 'resize'``, ``job #3`` or just ``job``."""
    type: str
    payload_json: str
    queue: str
    priority: Priority
    depends_on_ids: tuple[int, ...]
    depends_on_refs: tuple[str, ...]
    idempotency_key: str | None
    max_retries: int
    timeout_s: float | None
    memory_mb: int | None
    ttl_s: float | None
    backoff_s: float
    backoff_max_s: float
    cpu: float | None = None
    tenant: str = DEFAULT_TENANT
    given_ref: str | None = None
    """The ref as its submitter wrote it (``ref`` may be made up, ``#3``): stored, so the
    DAG view can name the job as the workflow did."""


def prepare(
    specs: Sequence[JobSpec], *, workflow: bool, routes: Routes = NO_ROUTES
) -> list[PreparedJob]:
    """Validate a submission and return it in dependency order.

    Every submission passes through here (the client's submits, schedules, and so
    the HTTP API): a spec's queue or priority left as None is filled in from
    ``routes``, each field on its own, before it is validated like a given one.
    Raises :class:`ValidationError` (or :class:`CycleError`) naming the job and
    what is wrong with it.
    """
    if not specs:
        raise ValidationError("nothing to submit: the workflow has no jobs")
    if len(specs) > MAX_WORKFLOW_JOBS:
        raise ValidationError(
            f"a submission holds at most {MAX_WORKFLOW_JOBS} jobs, this one has {len(specs)}"
        )
    prepared: list[PreparedJob] = []
    seen_refs: set[str] = set()
    for index, spec in enumerate(specs):
        if not isinstance(spec, JobSpec):
            raise ValidationError(f"job #{index + 1} is not a JobSpec but {type(spec).__name__}")
        ref = spec.ref if spec.ref is not None else f"#{index + 1}"
        if spec.ref is not None:
            where = f"job {ref!r}"
        else:
            where = "job" if len(specs) == 1 else f"job #{index + 1}"
        if spec.ref is not None and (not isinstance(spec.ref, str) or not _REF_RE.match(spec.ref)):
            raise ValidationError(f"{where}: ref must be 1 to 200 printable characters")
        if ref in seen_refs:
            raise ValidationError(f"{where}: ref {ref!r} is used by more than one job")
        seen_refs.add(ref)
        prepared.append(_prepare_one(spec, ref, where, workflow=workflow, routes=routes))

    refs = [p.ref for p in prepared]
    by_ref = {p.ref: p for p in prepared}
    for p in prepared:
        for dep in p.depends_on_refs:
            if dep == p.ref:
                raise ValidationError(f"{p.label} depends on itself")
            if dep not in by_ref:
                raise ValidationError(
                    f"{p.label} depends on {dep!r}, which is not a ref in this workflow"
                )
    if workflow:
        _check_one_tenant(prepared)
    edges = {p.ref: p.depends_on_refs for p in prepared}
    cycle = find_cycle(refs, edges)
    if cycle is not None:
        raise CycleError(cycle)
    return [by_ref[r] for r in topological_order(refs, edges)]


def _prepare_one(
    spec: JobSpec, ref: str, where: str, *, workflow: bool, routes: Routes
) -> PreparedJob:
    check_type_name(spec.type, where)
    queue, given_priority = routes.resolve(spec.type, spec.queue, spec.priority)
    if not isinstance(queue, str) or not _QUEUE_RE.match(queue):
        raise ValidationError(
            f"{where}: queue {shown(queue)} is not a queue name (1 to 64 letters, "
            "digits and '_.-', not starting with '.' or '-')"
        )
    try:
        priority = Priority.parse(given_priority)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    payload_json = serialize_payload(spec.payload, where)
    ids, refs = _split_dependencies(spec.depends_on, where, workflow=workflow)
    key = spec.idempotency_key
    if key is not None and (
        not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not storable(key)
    ):
        raise ValidationError(
            f"{where}: idempotency key must be 1 to {MAX_KEY_LENGTH} characters without NUL"
        )
    return PreparedJob(
        ref=ref,
        label=where,
        type=spec.type,
        payload_json=payload_json,
        queue=queue,
        priority=priority,
        depends_on_ids=ids,
        depends_on_refs=refs,
        idempotency_key=key,
        max_retries=_int(spec.max_retries, "max_retries", where, 0, MAX_RETRIES),
        timeout_s=_opt_seconds(spec.timeout_s, "timeout", where),
        memory_mb=(
            None
            if spec.memory_mb is None
            else _int(spec.memory_mb, "memory_mb", where, 1, 1024 * 1024)
        ),
        ttl_s=_opt_seconds(spec.ttl_s, "ttl", where),
        backoff_s=_seconds(spec.backoff_s, "backoff", where, allow_zero=True),
        backoff_max_s=_seconds(spec.backoff_max_s, "backoff_max", where, allow_zero=True),
        cpu=_opt_cpu(spec.cpu, where),
        tenant=check_tenant_name(spec.tenant, where),
        given_ref=spec.ref,
    )


def check_tenant_name(tenant: Any, where: str = "job") -> str:
    """The tenant's name, or a ValidationError saying what a tenant name may be (the
    rule of queue names, so a tenant name is safe in a metric label and a URL)."""
    if not isinstance(tenant, str) or not _QUEUE_RE.match(tenant):
        raise ValidationError(
            f"{where}: tenant {shown(tenant)} is not a tenant name (1 to 64 letters, "
            "digits and '_.-', not starting with '.' or '-')"
        )
    return tenant


def _check_one_tenant(prepared: Sequence[PreparedJob]) -> None:
    """A workflow belongs to one tenant: its jobs share limits, share and visibility."""
    first = prepared[0]
    for p in prepared[1:]:
        if p.tenant != first.tenant:
            raise ValidationError(
                f"{p.label} is for tenant {p.tenant!r} but {first.label} is for tenant "
                f"{first.tenant!r}; every job of a workflow belongs to one tenant"
            )


def check_type_name(job_type: Any, where: str = "job") -> str:
    """``job_type`` if it can name a job type, else a ValidationError saying what may."""
    if not isinstance(job_type, str) or not job_type.strip():
        raise ValidationError(f"{where}: type is empty; name a registered job type")
    if len(job_type) > MAX_TYPE_LENGTH or not _TYPE_RE.match(job_type):
        raise ValidationError(
            f"{where}: type {job_type[:60]!r} is not a job type name (letters, digits and "
            f"'_.:-', starting with a letter or '_', at most {MAX_TYPE_LENGTH} characters)"
        )
    return job_type


def storable(text: str) -> bool:
    """Whether PostgreSQL can store ``text``: no NUL, and valid Unicode (no lone surrogate,
    which is what undecodable bytes in a command line argument become)."""
    return _UNSTORABLE_RE.search(text) is None


def check_workflow_name(name: Any) -> str | None:
    """The workflow's name, or a ValidationError (it is stored: it must be storable text)."""
    if name is not None and (not isinstance(name, str) or not storable(name)):
        raise ValidationError(
            f"workflow name {shown(name)} is not usable: give text without NUL characters"
        )
    return name


def serialize_payload(payload: Any, where: str = "job") -> str:
    """The payload as compact JSON text, or a ValidationError saying why it cannot be one."""
    if not isinstance(payload, Mapping):
        kind = "null" if payload is None else type(payload).__name__
        raise ValidationError(f"{where}: payload must be a JSON object, not {kind}")
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise ValidationError(f"{where}: payload is nested too deeply") from None
    except ValueError as exc:  # NaN / Infinity, circular references
        raise ValidationError(f"{where}: payload is not valid JSON: {exc}") from None
    except TypeError as exc:
        raise ValidationError(f"{where}: payload is not JSON: {exc}") from None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(
            f"{where}: payload contains text that is not valid Unicode (a lone surrogate)"
        ) from None
    if size > MAX_PAYLOAD_BYTES:
        raise ValidationError(
            f"{where}: payload is {size:,} bytes of JSON; "
            f"the limit is {MAX_PAYLOAD_BYTES:,} (1 MiB)"
        )
    if "\\u0000" in text and _NUL_ESCAPE_RE.search(text):
        raise ValidationError(
            f"{where}: payload contains a NUL character, which JSON in PostgreSQL cannot store"
        )
    if _depth(payload) > MAX_PAYLOAD_DEPTH:
        raise ValidationError(f"{where}: payload is nested deeper than {MAX_PAYLOAD_DEPTH} levels")
    return text


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _split_dependencies(
    deps: Sequence[int | str], where: str, *, workflow: bool
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    if isinstance(deps, str | bytes) or not isinstance(deps, Sequence):
        raise ValidationError(f"{where}: depends_on must be a list of job ids")
    ids: list[int] = []
    refs: list[str] = []
    for dep in deps:
        if isinstance(dep, bool):
            raise ValidationError(f"{where}: dependency {dep!r} is not a job id")
        if isinstance(dep, int):
            if dep <= 0 or dep >= 2**63:
                raise ValidationError(f"{where}: dependency {shown(dep)} is not a job id")
            if dep not in ids:
                ids.append(dep)
        elif isinstance(dep, str) and workflow:
            if dep not in refs:
                refs.append(dep)
        else:
            raise ValidationError(f"{where}: dependency {shown(dep)} is not a job id")
    return tuple(ids), tuple(refs)


def _int(value: Any, name: str, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{where}: {name} must be a whole number, not {shown(value)}")
    if value < low:
        if low == 0:
            raise ValidationError(f"{where}: {name} must not be negative (got {shown(value)})")
        raise ValidationError(f"{where}: {name} must be at least {low} (got {shown(value)})")
    if value > high:
        raise ValidationError(f"{where}: {name} must be at most {high} (got {shown(value)})")
    return value


def _seconds(value: Any, name: str, where: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{where}: {name} must be a number of seconds, not {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float: far more than a week
        number = math.inf if value > 0 else -math.inf
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValidationError(
            f"{where}: {name} must be a positive number of seconds (got {shown(value)})"
            if not allow_zero
            else f"{where}: {name} must not be negative (got {shown(value)})"
        )
    if number > MAX_TIMEOUT_S:
        raise ValidationError(f"{where}: {name} must be at most {MAX_TIMEOUT_S:g} s (a week)")
    return number


def _opt_seconds(value: Any, name: str, where: str) -> float | None:
    return None if value is None else _seconds(value, name, where)


def _opt_cpu(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{where}: cpu must be a number of cores, not {shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond any float: far more than any machine's cores
        number = math.inf if value > 0 else -math.inf
    if not number > 0:
        raise ValidationError(
            f"{where}: cpu must be a positive number of cores, e.g. 0.5 (got {shown(value)})"
        )
    if number > MAX_CPU:
        raise ValidationError(
            f"{where}: cpu must be at most {MAX_CPU:g} cores (got {shown(value)})"
        )
    return number


_FILE_KEYS = {
    "ref",
    "type",
    "payload",
    "queue",
    "priority",
    "depends_on",
    "idempotency_key",
    "key",
    "max_retries",
    "timeout_s",
    "timeout",
    "memory_mb",
    "cpu",
    "ttl_s",
    "backoff_s",
    "backoff_max_s",
    "tenant",
}


def parse_workflow(document: Any) -> tuple[str | None, list[JobSpec]]:
    """The (name, specs) of a workflow file ``{"name": …, "jobs": [{"ref": …, …}]}``.

    Every structural mistake is reported with the job's position and ref.
    """
    if not isinstance(document, Mapping):
        raise ValidationError('workflow file must hold a JSON object like {"jobs": [...]}')
    unknown = sorted(set(document) - {"jobs", "name"})
    if unknown:
        raise ValidationError(f"workflow file: unknown key(s) {', '.join(map(repr, unknown))}")
    name = document.get("name")
    if name is not None and not isinstance(name, str):
        raise ValidationError("workflow file: name must be a string")
    jobs = document.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise ValidationError('workflow file: "jobs" must be a non-empty list')
    specs = []
    for index, item in enumerate(jobs):
        where = f"workflow file: job #{index + 1}"
        if not isinstance(item, Mapping):
            raise ValidationError(f"{where} must be an object")
        if "ref" in item and isinstance(item["ref"], str):
            where += f" ({item['ref']!r})"
        bad = sorted(set(item) - _FILE_KEYS)
        if bad:
            raise ValidationError(f"{where}: unknown key(s) {', '.join(map(repr, bad))}")
        if "type" not in item:
            raise ValidationError(f"{where}: type is missing")
        if "ref" in item and not isinstance(item["ref"], str):
            raise ValidationError(f"{where}: ref must be a string")
        deps = item.get("depends_on", [])
        if not isinstance(deps, list):
            raise ValidationError(f"{where}: depends_on must be a list of refs or job ids")
        specs.append(
            JobSpec(
                ref=item.get("ref"),
                type=item["type"],
                payload=item.get("payload", {}),
                # Absent (or null): the routing rules decide, as for any submit.
                queue=item.get("queue"),
                priority=item.get("priority"),
                depends_on=tuple(deps),
                idempotency_key=item.get("idempotency_key", item.get("key")),
                max_retries=item.get("max_retries", 3),
                timeout_s=item.get("timeout_s", item.get("timeout")),
                memory_mb=item.get("memory_mb"),
                cpu=item.get("cpu"),
                ttl_s=item.get("ttl_s"),
                backoff_s=item.get("backoff_s", DEFAULT_BACKOFF_S),
                backoff_max_s=item.get("backoff_max_s", DEFAULT_BACKOFF_MAX_S),
                tenant=item.get("tenant", DEFAULT_TENANT),
            )
        )
    return name, specs
