"""Routing rules: which queue and priority a job gets when its submitter names none.

A rule is a job-type pattern (``fnmatch`` style: ``*``, ``?``, ``[abc]``,
``[!abc]``, case-sensitive like type names) with a queue, a priority or both::

    [[routes]]
    type = "reports.*"
    queue = "slow"
    priority = "low"

Rules are tried in the order they are written and the **first** whose pattern
matches the type decides; a field that rule leaves out gets the built-in default
(queue ``default``, priority ``normal``), not a later rule's value, so one line of
``queueconsole routes TYPE`` explains every outcome. Each field is resolved on its
own: a caller who names the queue still gets the rule's priority, and the other
way round. What a caller names always wins.

Rules are validated when the settings are loaded, so a bad rule stops every
command and engine at start-up with an error naming the rule (its number, 1-based,
and its text), instead of sending jobs somewhere unexpected later.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError, ValidationError, shown
from engine.priority import Priority

DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY = Priority.NORMAL
MAX_ROUTES = 1000  # a routing table is read at every submit; thousands of rules is a mistake
MAX_PATTERN_LENGTH = 200  # as long as a type name may be
MATCH_CACHE_SIZE = 4096  # distinct types remembered per table (a submit looks each one up)

RULE_KEYS = ("type", "queue", "priority")
# The characters a job type may hold (engine.specs) plus fnmatch's wildcards: a pattern
# with anything else could never match a type, so it is refused as a typo.
_PATTERN_CHARS_RE = re.compile(r"^[A-Za-z0-9_.:\-*?\[\]!]+\Z")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")  # as engine.specs


@dataclass(frozen=True, slots=True)
class Route:
    """One rule: jobs whose type matches ``pattern`` go to ``queue`` with ``priority``."""

    pattern: str
    queue: str | None
    """None: this rule leaves the queue to the default."""
    priority: Priority | None
    """None: this rule leaves the priority to the default."""
    index: int
    """Its place in the table, from 1, as errors and ``queueconsole routes`` name it."""
    _regex: re.Pattern[str] = field(repr=False, compare=False)

    def matches(self, job_type: str) -> bool:
        """Whether ``job_type`` matches this rule's pattern."""
        return self._regex.match(job_type) is not None

    def to_json(self) -> dict[str, Any]:
        """The rule as written: ``{"type", "queue", "priority"}`` (absent fields null)."""
        return {
            "type": self.pattern,
            "queue": self.queue,
            "priority": None if self.priority is None else self.priority.label,
        }


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where one job goes and why: the rule that matched (None if none did)."""

    queue: str
    priority: Priority
    rule: Route | None


class Routes:
    """An ordered, validated routing table. Immutable; compares by its rules."""

    __slots__ = ("_cache", "rules")

    def __init__(self, rules: Iterable[Route] = ()) -> None:
        self.rules: tuple[Route, ...] = tuple(rules)
        self._cache: dict[str, Route | None] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Any:
        return iter(self.rules)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Routes) and self.rules == other.rules

    def __hash__(self) -> int:
        return hash(self.rules)

    def __repr__(self) -> str:
        return f"Routes({[r.to_json() for r in self.rules]!r})"

    def match(self, job_type: str) -> Route | None:
        """The first rule whose pattern matches ``job_type``, or None."""
        if not self.rules:
            return None
        try:
            return self._cache[job_type]
        except KeyError:
            pass
        found = next((r for r in self.rules if r.matches(job_type)), None)
        if len(self._cache) >= MATCH_CACHE_SIZE:
            self._cache.clear()  # many distinct types: start over rather than grow
        self._cache[job_type] = found
        return found

    def resolve(self, job_type: str, queue: Any = None, priority: Any = None) -> tuple[Any, Any]:
        """The queue and priority a job gets: what the caller gave (left as given, for
        validation to judge), else the matching rule's, else the defaults."""
        if queue is not None and priority is not None:
            return queue, priority
        rule = self.match(job_type) if isinstance(job_type, str) else None
        if queue is None:
            queue = rule.queue if rule is not None else None
        if priority is None:
            priority = rule.priority if rule is not None else None
        return (
            DEFAULT_QUEUE if queue is None else queue,
            DEFAULT_PRIORITY if priority is None else priority,
        )

    def explain(self, job_type: str) -> Resolved:
        """Where a job of ``job_type`` goes when its submitter names neither field."""
        rule = self.match(job_type)
        queue, priority = self.resolve(job_type)
        return Resolved(str(queue), Priority.parse(priority), rule)

    def to_json(self) -> list[dict[str, Any]]:
        """Every rule as written (what ``QUEUECONSOLE_ROUTES`` takes back)."""
        return [r.to_json() for r in self.rules]


NO_ROUTES = Routes()


def rule_text(rule: Any) -> str:
    """A rule as its author wrote it, for error messages (JSON, cut to a readable length)."""
    try:
        text = json.dumps(rule, ensure_ascii=False, sort_keys=False, default=str)
    except (TypeError, ValueError):
        text = repr(rule)
    return text if len(text) <= 120 else text[:117] + "..."


def parse_routes(value: Any, origin: str) -> Routes:
    """A routing table from TOML (a list of tables) or JSON (a list of objects).

    ``origin`` says where it came from (``config file PATH``, ``environment variable
    QUEUECONSOLE_ROUTES``) for the error, which names the rule by number and text.
    """
    if isinstance(value, Routes):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError as exc:
            raise ConfigError(
                f"{origin}: routes must be a JSON list of rules like "
                f'[{{"type": "reports.*", "queue": "slow", "priority": "low"}}]: {exc}'
            ) from None
    if isinstance(value, Mapping) or not isinstance(value, list | tuple):
        raise ConfigError(
            f"{origin}: routes must be a list of rules ([[routes]] tables in TOML), "
            f"not {type(value).__name__}"
        )
    if len(value) > MAX_ROUTES:
        raise ConfigError(f"{origin}: {len(value)} routes; at most {MAX_ROUTES} are allowed")
    rules = []
    for index, raw in enumerate(value, start=1):
        if isinstance(raw, Route):
            raw = raw.to_json()
        try:
            rules.append(_parse_rule(raw, index))
        except ValidationError as exc:
            raise ConfigError(f"{origin}: route #{index} {rule_text(raw)}: {exc}") from None
    return Routes(rules)


def _parse_rule(raw: Any, index: int) -> Route:
    if not isinstance(raw, Mapping):
        raise ValidationError("a rule must be a table with type and a queue or priority")
    unknown = [str(k) for k in raw if k not in RULE_KEYS]
    if unknown:
        raise ValidationError(
            f"unknown key(s) {', '.join(unknown)}; a rule has {', '.join(RULE_KEYS)}"
        )
    if "type" not in raw:
        raise ValidationError('type is missing: give a pattern such as "reports.*"')
    pattern = raw["type"]
    check_pattern(pattern)
    queue = raw.get("queue")
    if queue is not None and (not isinstance(queue, str) or not _QUEUE_RE.match(queue)):
        raise ValidationError(
            f"queue {shown(queue)} is not a queue name (1 to 64 letters, digits and '_.-', "
            "not starting with '.' or '-')"
        )
    priority = raw.get("priority")
    parsed = None if priority is None else Priority.parse(priority)
    if queue is None and parsed is None:
        raise ValidationError("the rule sets neither queue nor priority; give one or both")
    return Route(pattern, queue, parsed, index, re.compile(fnmatch.translate(pattern)))


def check_pattern(pattern: Any) -> str:
    """A usable type pattern, or a ValidationError saying why it can never match.

    fnmatch itself accepts anything (an unclosed ``[`` is a literal), so a typo
    would silently route nothing: refuse what no job type can match.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError(f"type pattern {shown(pattern)} must be non-empty text")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValidationError(f"type pattern is longer than {MAX_PATTERN_LENGTH} characters")
    if not _PATTERN_CHARS_RE.match(pattern):
        raise ValidationError(
            f"type pattern {shown(pattern)} holds characters no job type has (types use "
            "letters, digits and '_.:-'; patterns add * ? [ ] !)"
        )
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "]":
            raise ValidationError(f"type pattern {shown(pattern)} has a ']' without its '['")
        if char == "!":
            raise ValidationError(
                f"type pattern {shown(pattern)}: '!' only negates a set, as in [!abc]"
            )
        if char == "[":
            negated = pattern[i + 1 : i + 2] == "!"
            end = pattern.find("]", i + 2 if negated else i + 1)
            inner = pattern[i + (2 if negated else 1) : end] if end >= 0 else ""
            if not inner:
                raise ValidationError(
                    f"type pattern {shown(pattern)} has a '[' that is not closed by ']' "
                    "around at least one character"
                )
            if any(c in "*?[!" for c in inner):
                raise ValidationError(
                    f"type pattern {shown(pattern)}: a [set] holds characters, not wildcards"
                )
            i = end + 1
            continue
        i += 1
    return pattern
