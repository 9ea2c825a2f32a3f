"""What happens between a key press and an :class:`ActionService` call.

Each flow reads the selection, refuses early in read-only mode, shows what a
change would affect (``Client.preview_cancel`` / ``preview_retry`` /
``preview_retry_group``) in a confirmation dialog where the action is
destructive or bulk, calls the service, and asks for an immediate refresh so
the result is on screen at once. Flows run as Textual workers, which is what
lets them wait for a dialog.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.text import Text
from textual.widgets import ContentSwitcher

from engine.errors import EngineError
from engine.snapshots import BulkAction, JobFilter, JobRef
from queueconsole.console.actions import ActionService
from queueconsole.console.filters import describe_filter
from queueconsole.console.model import Selection
from queueconsole.console.screens.choice import ChoiceScreen
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.text import literal, state_text

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from queueconsole.console.app import ConsoleApp

AFFECTED_SHOWN = 12  # affected jobs listed by name in a confirmation; the rest are counted
GROUP_IDS_SHOWN = 20  # job ids of a failure group listed in its confirmation

FLOWS = (
    "retry",
    "cancel",
    "retry_group",
    "replay_dead",
    "replay_dead_group",
    "purge_dead",
    "scale_up",
    "scale_down",
    "recycle",
    "pause",
    "dag",
    "fire",
    "bulk",
)
"""Names accepted by :meth:`Flows.run` (and the app's ``act`` action)."""


def affected_lines(
    refs: Sequence[JobRef], verb: str, *, total: int | None = None
) -> list[RenderableType]:
    """``3 jobs downstream would be blocked:`` and one line per job (literal).

    ``total`` counts the affected jobs when ``refs`` are only the first of them.
    """
    n = len(refs) if total is None else total
    if not n:
        return [Text(f"No other job would be {verb}.")]
    lines: list[RenderableType] = [
        Text(f"{n} job{'s' if n != 1 else ''} downstream would be {verb}:")
    ]
    for ref in refs[:AFFECTED_SHOWN]:
        line = Text(f"  {ref.id} ")
        line.append_text(literal(ref.type, one_line=True))
        line.append(" (")
        line.append_text(state_text(ref.state))
        line.append(")")
        lines.append(line)
    shown = min(len(refs), AFFECTED_SHOWN)
    if n > shown:
        lines.append(Text(f"  … and {n - shown} more"))
    return lines


class Flows:
    """The interactive side of every action.

    Args:
        app: the console (for dialogs, notifications, the last overview).
    """

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app

    @property
    def service(self) -> ActionService:
        return self.app.actions

    def _say(self, message: str, severity: SeverityLevel = "warning") -> None:
        self.app.notify(message, severity=severity, markup=False)

    async def run(self, name: str, sel: Selection) -> None:
        """Run flow ``name`` on ``sel``; service errors become notifications."""
        flow = getattr(self, f"_{name}", None)
        if name not in FLOWS or flow is None:
            self._say(f"unknown action {name!r}", "error")
            return
        try:
            await flow(sel)
        except EngineError as exc:
            self._say(self.app.link.settings.redact(str(exc)), "error")

    async def _confirm(self, title: str, body: list[RenderableType]) -> bool:
        confirmed: bool = await self.app.push_screen_wait(ConfirmScreen(title, body))
        return confirmed

    # -- jobs -------------------------------------------------------------------

    async def _retry(self, sel: Selection) -> None:
        if sel.job_id is None:
            self._say("select a job to retry")
            return
        if self.service.refuse(f"retry of job {sel.job_id}"):
            return
        affected = await self.service.preview_retry(sel.job_id)
        body = affected_lines(affected, "released (re-checked when it runs)")
        if await self._confirm(f"Retry job {sel.job_id}?", body):
            await self.service.retry(sel.job_id)
            self.app.request_refresh()

    async def _cancel(self, sel: Selection) -> None:
        if sel.job_id is None:
            self._say("select a job to cancel")
            return
        if self.service.refuse(f"cancel of job {sel.job_id}"):
            return
        affected = await self.service.preview_cancel(sel.job_id)
        if await self._confirm(f"Cancel job {sel.job_id}?", affected_lines(affected, "blocked")):
            await self.service.cancel(sel.job_id)
            self.app.request_refresh()

    async def _retry_group(self, sel: Selection) -> None:
        group = sel.group
        if group is None:
            self._say("select a failure group (5 Failures) to retry it")
            return
        if self.service.refuse("retry of a failure group"):
            return
        preview = await self.service.preview_retry_group(group.fingerprint)
        n, ids = preview.count, preview.newest_ids
        error = literal(group.message, one_line=True)
        if group.error_type:
            error = Text.assemble(literal(group.error_type, one_line=True), ": ", error)
        body: list[RenderableType] = [
            Text.assemble("error: ", error),
            Text(
                f"{n} failed job{'s' if n != 1 else ''} will be retried: "
                + ", ".join(str(i) for i in ids[:GROUP_IDS_SHOWN])
                + (" …" if n > min(len(ids), GROUP_IDS_SHOWN) else "")
            ),
            *affected_lines(
                preview.blocked,
                "released (re-checked when it runs)",
                total=preview.blocked_count,
            ),
        ]
        if await self._confirm(f"Retry {n} failed jobs?", body):
            await self.service.retry_group(group.fingerprint)
            self.app.request_refresh()

    # -- the dead-letter queue ----------------------------------------------------------

    async def _replay_dead(self, sel: Selection) -> None:
        if sel.job_id is None or sel.group is None:
            self._say("select a failed job (5 Failures) to replay it")
            return
        if self.service.refuse("replay from the dead-letter queue"):
            return
        affected = await self.service.preview_retry(sel.job_id)
        body = [
            Text("Runs again with a fresh attempt budget; its dead-letter copy goes."),
            *affected_lines(affected, "released (re-checked when it runs)"),
        ]
        if await self._confirm(f"Replay job {sel.job_id}?", body):
            await self.service.replay_dead([sel.job_id])
            self.app.request_refresh()

    async def _replay_dead_group(self, sel: Selection) -> None:
        group = sel.group
        if group is None:
            self._say("select a failure group (5 Failures) to replay it")
            return
        if self.service.refuse("replay from the dead-letter queue"):
            return
        preview = await self.service.preview_retry_group(group.fingerprint)
        n = preview.count
        body: list[RenderableType] = [
            Text(
                f"{n} failed job{'s' if n != 1 else ''} will run again with a fresh attempt "
                "budget; their dead-letter copies are removed: "
                + ", ".join(str(i) for i in preview.newest_ids[:GROUP_IDS_SHOWN])
                + (" …" if n > min(len(preview.newest_ids), GROUP_IDS_SHOWN) else "")
            ),
            *affected_lines(
                preview.blocked,
                "released (re-checked when it runs)",
                total=preview.blocked_count,
            ),
        ]
        if await self._confirm(f"Replay {n} failed jobs?", body):
            await self.service.replay_dead([], group.fingerprint)
            self.app.request_refresh()

    async def _purge_dead(self, sel: Selection) -> None:
        if self.service.refuse("purge of the dead-letter queue"):
            return
        n = await self.service.preview_purge_dead()
        body: list[RenderableType] = [
            Text(
                f"{n} cop{'ies' if n != 1 else 'y'} in the dead-letter queue (as last swept) "
                "will be removed from RabbitMQ."
            ),
            Text("The failures stay in PostgreSQL: the Failures pane still shows them."),
        ]
        if await self._confirm("Purge the dead-letter queue?", body):
            await self.service.purge_dead()
            self.app.request_refresh()

    async def _dag(self, sel: Selection) -> None:
        if sel.job_id is None and sel.workflow_id is None:
            self._say("select a job to see its workflow")
            return
        self.app.show_dag(sel.job_id, sel.workflow_id)

    # -- queues and workers -----------------------------------------------------------

    async def _scale(self, sel: Selection, delta: int) -> None:
        if sel.queue is None:
            self._say("select a queue to scale (1 Overview or 4 Workers)")
            return
        if self.service.refuse(f"scaling queue {sel.queue}"):
            return
        workers = self.app.overview.workers
        if sel.host is not None:
            # On a worker: its host's engine alone changes, from what that host runs now.
            target = workers.count_on(sel.queue, sel.host) + delta
            if target < 0:
                self._say(f"queue {sel.queue} has no workers on {sel.host}", "information")
                return
            await self.service.scale(sel.queue, target, host=sel.host)
            self.app.request_refresh()
            return
        current = workers.count_for(sel.queue)
        target = current + delta
        if target < 0:
            self._say(f"queue {sel.queue} has no workers to remove", "information")
            return
        await self.service.scale(sel.queue, target)
        self.app.request_refresh()

    async def _scale_up(self, sel: Selection) -> None:
        await self._scale(sel, +1)

    async def _scale_down(self, sel: Selection) -> None:
        await self._scale(sel, -1)

    async def _recycle(self, sel: Selection) -> None:
        if sel.worker_id is None:
            self._say("select a worker to recycle (4 Workers)")
            return
        await self.service.recycle(sel.worker_id)
        self.app.request_refresh()

    async def _pause(self, sel: Selection) -> None:
        if sel.schedule is not None:
            if sel.schedule.paused:
                await self.service.resume_schedule(sel.schedule.name)
            else:
                await self.service.pause_schedule(sel.schedule.name)
            self.app.request_refresh()
            return
        if sel.queue is None:
            self._say("select a queue to pause or resume")
            return
        row = next((q for q in self.app.overview.queues if q.name == sel.queue), None)
        if row is not None and row.paused:
            await self.service.resume(sel.queue)
        else:
            await self.service.pause(sel.queue)
        self.app.request_refresh()

    # -- schedules ---------------------------------------------------------------------

    async def _fire(self, sel: Selection) -> None:
        schedule = sel.schedule
        if schedule is None:
            self._say("select a schedule to fire (6 Schedules)")
            return
        if self.service.refuse(f"firing schedule {schedule.name}"):
            return
        body: list[RenderableType] = [
            Text.assemble(
                "submits one ",
                literal(schedule.type, one_line=True),
                " job to queue ",
                literal(schedule.queue, one_line=True),
                " now",
            ),
            Text(
                "its cron ticks go on as before"
                + ("" if not schedule.paused else "; it stays paused")
            ),
        ]
        if await self._confirm(f"Fire schedule {schedule.name} now?", body):
            await self.service.fire_schedule(schedule.name)
            self.app.request_refresh()

    # -- bulk ------------------------------------------------------------------------

    async def _bulk(self, sel: Selection) -> None:
        if self.app.query_one("#panes", ContentSwitcher).current != "jobs":
            self._say("B acts on the Jobs pane (2): on the marked jobs, else on its filter")
            return
        if self.service.refuse("a bulk action"):
            return
        if sel.marked:
            n = len(sel.marked)
            scope = f"the {n:,} marked job{'s' if n != 1 else ''}"
        else:
            described = describe_filter(sel.job_filter or JobFilter())
            scope = f"every job matching {described}" if described else "every job"
        options = [
            ("r", "retry the failed, cancelled and retrying ones"),
            ("c", "cancel the live ones"),
        ]
        choice = await self.app.push_screen_wait(ChoiceScreen(f"Act on {scope}", options))
        if choice is None:
            return
        action: BulkAction = "retry" if choice == "r" else "cancel"
        past = "retried" if action == "retry" else "cancelled"
        ids = sel.marked or None
        flt = None if ids else sel.job_filter
        preview = await self.service.preview_bulk(action, flt=flt, ids=ids)
        n = preview.count
        if not n:
            self._say(f"none of {scope} can be {past}")
            return
        verb = "released (re-checked when they run)" if action == "retry" else "blocked"
        body: list[RenderableType] = [
            Text(f"{n:,} job{'s' if n != 1 else ''} of {scope} will be {past}."),
            *affected_lines(list(preview.affected), verb, total=preview.affected_count),
        ]
        if not preview.affected_exact:
            body.append(Text("(dependents followed for the first jobs only: a large selection)"))
        if await self._confirm(f"{action.capitalize()} {n:,} jobs?", body):
            done = await self.service.bulk(action, flt=flt, ids=ids)
            if done.ok and ids:
                self.app.clear_marks()
            self.app.request_refresh()
