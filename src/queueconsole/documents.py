"""JSON documents that more than one entry point prints: ``status --json`` and
``GET /v1/status`` are the same document, built here once so they cannot drift."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.doctor import CheckResult, DoctorReport
    from engine.snapshots import Dashboard


def status_problems(report: DoctorReport) -> list[CheckResult]:
    """What the doctor found wrong, less "does it answer" (the services lines say that)."""
    from engine.doctor import SERVICE_CHECKS

    return [c for c in report.problems() if c.name not in SERVICE_CHECKS]


def doctor_json(report: DoctorReport) -> dict[str, Any]:
    """``doctor`` in ``status --json``: the worst status and the checks that did not pass."""
    problems = status_problems(report)
    worst = "fail" if any(c.status == "fail" for c in problems) else "warn" if problems else "ok"
    return {"status": worst, "problems": [c.to_json() for c in problems]}


def status_document(snap: Dashboard, report: DoctorReport) -> dict[str, Any]:
    """The ``status --json`` document: the dashboard snapshot plus the doctor's findings."""
    document = snap.to_json()
    document["doctor"] = doctor_json(report)
    return document
