"""The console: a Textual app with five panes over the engine.

Data flow: a one-shot timer, re-armed after each refresh finishes (so a slow
service never stacks refreshes up), starts a worker that reads an
:class:`~queueconsole.console.model.Overview` and the visible pane's data
through the :class:`~queueconsole.console.source.DataSource` and hands the
immutable snapshots to the widgets. Keys and palette entries go through
:class:`~queueconsole.console.flows.Flows` to the single
:class:`~queueconsole.console.actions.ActionService`, which enforces
``--read-only``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer

from engine.errors import EngineError
from queueconsole.console.actions import READ_ONLY_FLAG, ActionService
from queueconsole.console.command_line import VERBS
from queueconsole.console.commands import ConsoleCommands, PaletteEntry
from queueconsole.console.dag.widget import DagView
from queueconsole.console.filters import parse_filter
from queueconsole.console.flows import Flows
from queueconsole.console.health import POSTGRESQL, SERVICES
from queueconsole.console.history import History
from queueconsole.console.link import EngineLink
from queueconsole.console.messages import OpenJob, ReloadRequested
from queueconsole.console.model import Overview, Selection
from queueconsole.console.panes.base import Pane
from queueconsole.console.panes.dag import DagPane
from queueconsole.console.panes.failures import FailuresPane
from queueconsole.console.panes.jobs import JobsPane
from queueconsole.console.panes.overview import OverviewPane
from queueconsole.console.panes.schedules import SchedulesPane
from queueconsole.console.panes.workers import WorkersPane
from queueconsole.console.screens.confirm import ConfirmScreen
from queueconsole.console.screens.help import HelpScreen, binding_rows
from queueconsole.console.screens.job_detail import JobDetailScreen
from queueconsole.console.source import Clock, DataSource, utc_now
from queueconsole.console.widgets.banner import DownBanner
from queueconsole.console.widgets.command_line import CommandLine
from queueconsole.console.widgets.pane_bar import PANES, PaneBar

log = logging.getLogger(__name__)

REFRESH_S = 1.0  # seconds between the end of one refresh and the start of the next
START_RETRY_S = 3.0  # seconds between attempts to start the embedded engine
FIRST_REFRESH_S = 0.01  # seconds before the first refresh (a timer cannot be armed with 0)

Background = Callable[[EngineLink], Awaitable[None]]
"""Work started once the engine is up and cancelled on quit (the demo's trickle)."""

TABLE_KEYS = [
    ("up, down", "move the cursor"),
    ("enter", "open the job under the cursor (or the group's jobs, on Failures)"),
    ("tab", "next table of the pane"),
    ("s, S", "sort by the next column; reverse the sort (the header shows ▲/▼)"),
]

COMMAND_KEYS = [
    *((f":{verb}", what) for verb, what in VERBS.items()),
    (":jobs, :dag …", "show a pane by name"),
    ("tab, up, down", "complete; older/newer commands"),
]


class ConsoleApp(App[None]):
    """The operations console.

    Args:
        link: the engine (embedded, attached, or a bare client).
        read_only: refuse every change (``--read-only``).
        read_only_reason: what a refusal gives as the reason (default: the flag).
        refresh_s: seconds between refreshes; None refreshes only on request
            (tests and screenshots drive :meth:`refresh_now` themselves).
        clock: what "now" is (frozen in snapshot tests).
        history: the chart history (screenshots seed it).
        background: coroutines started once the engine is up.
    """

    TITLE = "queueconsole"
    COMMANDS = App.COMMANDS | {ConsoleCommands}

    CSS = """
    #panes {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show_pane('overview')", "Overview", show=False),
        Binding("2", "show_pane('jobs')", "Jobs", show=False),
        Binding("3", "show_pane('dag')", "DAG", show=False),
        Binding("4", "show_pane('workers')", "Workers", show=False),
        Binding("5", "show_pane('failures')", "Failures", show=False),
        Binding("6", "show_pane('schedules')", "Schedules", show=False),
        Binding("r", "act('retry')", "Retry"),
        Binding("c", "act('cancel')", "Cancel"),
        Binding("g", "act('dag')", "Graph"),
        Binding("R", "act('retry_group')", "Retry group", show=False),
        Binding("B", "act('bulk')", "Bulk retry/cancel: marked jobs, else the filter", show=False),
        Binding("d", "act('replay_dead')", "Replay dead-lettered job", show=False),
        Binding("D", "act('replay_dead_group')", "Replay dead-lettered group", show=False),
        Binding("x", "act('purge_dead')", "Purge dead-letter queue", show=False),
        Binding("plus", "act('scale_up')", "Scale queue up", show=False),
        Binding("minus", "act('scale_down')", "Scale queue down", show=False),
        Binding("k", "act('recycle')", "Recycle worker", show=False),
        Binding("p", "act('pause')", "Pause/resume queue or schedule", show=False),
        Binding("f", "act('fire')", "Fire schedule now", show=False),
        Binding("ctrl+r", "refresh_data", "Refresh now", show=False),
        Binding("colon", "command_line", "Command line (:job 123, :queue mail …)", show=False),
        Binding("F", "toggle_freeze", "Freeze/unfreeze live refresh", show=False),
        Binding("y", "copy('id')", "Copy job id", show=False),
        Binding("Y", "copy('payload')", "Copy job payload", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_console", "Quit"),
        Binding("ctrl+q", "quit_console", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        link: EngineLink,
        *,
        read_only: bool = False,
        read_only_reason: str = READ_ONLY_FLAG,
        refresh_s: float | None = REFRESH_S,
        clock: Clock = utc_now,
        history: History | None = None,
        background: Sequence[Background] = (),
    ) -> None:
        super().__init__()
        self.link = link
        self.source = DataSource(link, clock=clock, history=history)
        self.actions = ActionService(
            link,
            read_only=read_only,
            notify=self._notify_plain,
            read_only_reason=read_only_reason,
        )
        self.flows = Flows(self)
        self.refresh_s = refresh_s
        self.overview = Overview(at=clock(), services=())
        self._background = tuple(background)
        self._quitting = False
        self._timer: Timer | None = None
        self.frozen = False
        """``F``: the timer stops redrawing, so a moving table can be read; an explicit
        refresh (ctrl+r, an action, a filter) still draws once."""
        self.stopped_engine = False
        """True once quitting has stopped (drained) the engine."""

    # -- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield PaneBar(id="bar")
        yield DownBanner({name: self.link.masked_url(name) for name in SERVICES}, id="banner")
        with ContentSwitcher(initial="overview", id="panes"):
            yield OverviewPane(id="overview")
            yield JobsPane(id="jobs")
            yield DagPane(id="dag")
            yield WorkersPane(id="workers")
            yield FailuresPane(id="failures")
            yield SchedulesPane(id="schedules")
        yield CommandLine(lambda: [q.name for q in self.overview.queues], id="command-line")
        yield Footer()

    def on_mount(self) -> None:
        bar = self.query_one(PaneBar)
        bar.mode = self.link.mode + (" · read-only" if self.actions.read_only else "")
        self._focus_pane(self.active_pane)
        self.run_worker(self._start_engine(), group="engine", exit_on_error=False)
        if self.refresh_s is not None:
            self._arm(FIRST_REFRESH_S)

    @property
    def active_pane(self) -> Pane:
        """The pane on screen."""
        switcher = self.query_one("#panes", ContentSwitcher)
        return self.query_one(f"#{switcher.current}", Pane)

    def pane(self, pane_id: str) -> Pane:
        """A pane by id (``overview``, ``jobs``, ``dag``, ``workers``, ``failures``)."""
        return self.query_one(f"#{pane_id}", Pane)

    def _focus_pane(self, pane: Pane) -> None:
        pane.focus_default()

    # -- the engine -------------------------------------------------------------

    async def _start_engine(self) -> None:
        """Start the embedded engine, retrying while a service is down."""
        while not self._quitting:
            try:
                await self.link.start()
                break
            except Exception as exc:  # keep the console usable; the banner shows the service
                message = self.link.settings.redact(str(exc) or type(exc).__name__)
                self._notify_plain(f"engine not started yet: {message}", "error")
                await asyncio.sleep(START_RETRY_S)
        if self._quitting:
            return
        for job in self._background:
            self.run_worker(job(self.link), group="background", exit_on_error=False)

    # -- refreshing -------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        self._timer = self.set_timer(delay, self._tick, name="refresh")

    def _tick(self) -> None:
        self.run_worker(self._timed_cycle(), group="refresh", exclusive=True, exit_on_error=False)

    async def _timed_cycle(self) -> None:
        try:
            if not self.frozen:
                await self.refresh_now(force=False)
        finally:
            if self.refresh_s is not None and not self._quitting:
                self._arm(self.refresh_s)

    def request_refresh(self) -> None:
        """Refresh now, off the timer (after an action or a change of filter)."""
        self.run_worker(
            self.refresh_now(record=False), group="refresh-now", exclusive=True, exit_on_error=False
        )

    async def refresh_now(self, *, record: bool = True, force: bool = True) -> None:
        """Read everything on screen once and draw it (awaitable: tests call it directly).

        ``force=False`` (the timer) lets a recent dashboard snapshot stand in.
        """
        try:
            overview = await self.source.overview(record=record, force=force)
        except (EngineError, TimeoutError, OSError) as exc:
            overview = self._degraded(str(exc) or type(exc).__name__)
        self.apply_overview(overview)
        if not all(s.up for s in overview.services if s.name == POSTGRESQL):
            return
        await self._load_into(self.active_pane)
        screen = self.screen
        if isinstance(screen, JobDetailScreen):
            await self._load_into(screen)

    def _degraded(self, reason: str) -> Overview:
        """An overview when reading it failed although the probes passed."""
        down = self.link.mark_down(POSTGRESQL, reason)
        services = tuple(down if s.name == POSTGRESQL else s for s in self.overview.services) or (
            down,
        )
        return Overview(
            self.source.clock(), services, (), self.overview.workers, self.overview.charts
        )

    async def _load_into(self, target: Pane | JobDetailScreen) -> None:
        try:
            data = await target.load(self.source)
        except (EngineError, TimeoutError, OSError) as exc:
            target.show_error(self.link.settings.redact(str(exc) or type(exc).__name__))
            return
        if data is not None and target.is_attached:
            target.show(data)

    def apply_overview(self, overview: Overview) -> None:
        """Hand a fresh overview to the banner and the visible pane."""
        self.overview = overview
        self.query_one(DownBanner).down = overview.down
        self.active_pane.on_overview(overview)

    # -- panes and screens -------------------------------------------------------------

    def action_show_pane(self, pane_id: str) -> None:
        """Switch pane (closing a job detail screen first)."""
        while len(self.screen_stack) > 1 and isinstance(self.screen, JobDetailScreen):
            self.pop_screen()
        self.query_one("#panes", ContentSwitcher).current = pane_id
        self.query_one(PaneBar).active = pane_id
        pane = self.pane(pane_id)
        pane.on_overview(self.overview)
        self._focus_pane(pane)
        self.request_refresh()

    def show_dag(self, job_id: int | None, workflow_id: int | None) -> None:
        """Show the workflow of a job on the DAG pane."""
        dag = self.pane("dag")
        assert isinstance(dag, DagPane)
        if job_id is not None:
            dag.show_job(job_id, workflow_id)
        self.action_show_pane("dag")

    @on(OpenJob)
    def _open_job(self, event: OpenJob) -> None:
        screen = JobDetailScreen(event.job_id, source=self.source)
        self.push_screen(screen)
        self.run_worker(
            self._load_into(screen), group="detail", exclusive=True, exit_on_error=False
        )

    # -- the command line ------------------------------------------------------------------

    def action_command_line(self) -> None:
        """``:`` opens the command line (k9s's convention) over whatever is on screen."""
        while len(self.screen_stack) > 1 and isinstance(self.screen, JobDetailScreen):
            self.pop_screen()
        self.query_one(CommandLine).open()

    @on(CommandLine.Run)
    def _run_command(self, event: CommandLine.Run) -> None:
        command = event.command
        if command.kind == "job":
            self.post_message(OpenJob(command.number))
        elif command.kind == "workflow":
            self.run_worker(self._show_workflow(command.number), group="command")
            return
        elif command.kind in ("queue", "tenant", "state", "type"):
            jobs = self.pane("jobs")
            assert isinstance(jobs, JobsPane)
            jobs.set_filter(parse_filter(f"{command.kind}:{command.arg}"))
            self.action_show_pane("jobs")
        elif command.kind == "pane":
            self.action_show_pane(command.arg)
        elif command.kind == "quit":
            self.action_quit_console()
        self._focus_pane(self.active_pane)

    async def _show_workflow(self, workflow_id: int) -> None:
        try:
            job_id = await self.link.client.workflow_job(workflow_id)
        except (EngineError, TimeoutError, OSError) as exc:
            reason = self.link.settings.redact(str(exc) or type(exc).__name__)
            self._notify_plain(f"cannot read workflow {workflow_id}: {reason}", "error")
            return
        if job_id is None:
            self._notify_plain(f"there is no workflow {workflow_id}", "warning")
            return
        self.show_dag(job_id, workflow_id)

    @on(ReloadRequested)
    def _reload(self, event: ReloadRequested) -> None:
        self.request_refresh()

    def selection(self) -> Selection:
        """What the actions act on: the job detail on top, else the active pane's cursor."""
        screen = self.screen
        if isinstance(screen, JobDetailScreen):
            return screen.selection()
        return self.active_pane.selection()

    # -- actions ---------------------------------------------------------------------------

    def action_act(self, name: str) -> None:
        """Run flow ``name`` on the current selection (keys land here)."""
        self.start_flow(name, self.selection())

    def start_flow(self, name: str, selection: Selection) -> None:
        """Run a flow as a worker (it may wait for a confirmation dialog)."""
        self.run_worker(self.flows.run(name, selection), group="action", exit_on_error=False)

    def clear_marks(self) -> None:
        """Forget the Jobs pane's marks (a bulk action has acted on them)."""
        jobs = self.pane("jobs")
        assert isinstance(jobs, JobsPane)
        jobs.clear_marks()

    def action_refresh_data(self) -> None:
        self.request_refresh()

    def action_toggle_freeze(self) -> None:
        """Stop or restart the live refresh; the pane bar says FROZEN while it is stopped."""
        self.frozen = not self.frozen
        self.query_one(PaneBar).frozen = self.frozen
        if self.frozen:
            self._notify_plain("live refresh frozen: F resumes it, ctrl+r refreshes once")
        else:
            self._notify_plain("live refresh resumed")
            self.request_refresh()

    def action_copy(self, what: str) -> None:
        """Copy the selected job's id (``y``) or payload (``Y``) to the clipboard.

        Textual writes it as an OSC 52 sequence, which the terminal (and tmux, with
        ``set-clipboard on``) puts on the clipboard of the operator's own machine, so it
        works over SSH where no local clipboard tool could.
        """
        job_id = self.selection().job_id
        if job_id is None:
            self._notify_plain("no job selected: move the cursor to a job to copy it", "warning")
            return
        if what == "id":
            self.copy_to_clipboard(str(job_id))
            self._notify_plain(f"copied job id {job_id}")
            return
        self.run_worker(self._copy_payload(job_id), group="copy", exit_on_error=False)

    async def _copy_payload(self, job_id: int) -> None:
        try:
            detail = await self.source.job(job_id)
        except (EngineError, TimeoutError, OSError) as exc:
            reason = self.link.settings.redact(str(exc) or type(exc).__name__)
            self._notify_plain(f"cannot copy the payload of job {job_id}: {reason}", "error")
            return
        self.copy_to_clipboard(detail.payload_json)
        size = len(detail.payload_json.encode())
        self._notify_plain(f"copied the payload of job {job_id} ({size:,} bytes of JSON)")

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        sections = [
            ("Everywhere", [*binding_rows(self.BINDINGS), ("ctrl+p", "command palette")]),
            ("Tables", TABLE_KEYS),
            ("Command line (:)", COMMAND_KEYS),
            ("Overview pane", binding_rows(OverviewPane.BINDINGS)),
            ("Jobs pane", binding_rows(JobsPane.BINDINGS)),
            ("DAG pane", binding_rows(DagView.BINDINGS)),
            ("Job detail", binding_rows(JobDetailScreen.BINDINGS)),
            ("Confirmation", binding_rows(ConfirmScreen.BINDINGS)),
        ]
        self.push_screen(HelpScreen(sections))

    def action_quit_console(self) -> None:
        """Quit; the embedded engine drains its workers first."""
        if self._quitting:
            return
        self._quitting = True
        if self._timer is not None:
            self._timer.stop()
        if self.link.mode == "embedded":
            self._notify_plain("draining workers; the console closes when they finish", "warning")
        self.run_worker(self._drain_and_exit(), group="shutdown", exit_on_error=False)

    async def _drain_and_exit(self) -> None:
        self.workers.cancel_group(self, "background")
        try:
            await self.link.stop()
        except Exception:  # quitting must not hang on a service that is down
            log.exception("stopping the engine failed")
        self.stopped_engine = True
        self.exit()

    def _notify_plain(self, message: str, severity: SeverityLevel = "information") -> None:
        """A notification whose text is never parsed as markup."""
        self.notify(message, severity=severity, markup=False)

    # -- the command palette ---------------------------------------------------------------

    def palette_entries(self) -> list[PaletteEntry]:
        """The palette's commands for what is on screen now."""
        entries = [
            PaletteEntry(f"Show {title}", f"key {key}", _bind(self.action_show_pane, pane_id))
            for key, pane_id, title in PANES
        ]
        sel = self.selection()
        if sel.job_id is not None:
            job = sel.job_id
            entries += [
                PaletteEntry(f"Retry job {job}", "key r", self._flow("retry", sel), True),
                PaletteEntry(f"Cancel job {job}", "key c", self._flow("cancel", sel), True),
                PaletteEntry(f"Show the workflow of job {job}", "key g", self._flow("dag", sel)),
                PaletteEntry(f"Copy the id of job {job}", "key y", _bind(self.action_copy, "id")),
                PaletteEntry(
                    f"Copy the payload of job {job}", "key Y", _bind(self.action_copy, "payload")
                ),
            ]
        if sel.schedule is not None:
            name = sel.schedule.name
            verb = "Resume" if sel.schedule.paused else "Pause"
            entries += [
                PaletteEntry(f"{verb} schedule {name}", "key p", self._flow("pause", sel), True),
                PaletteEntry(f"Fire schedule {name} now", "key f", self._flow("fire", sel), True),
            ]
        if sel.group is not None:
            entries.append(
                PaletteEntry(
                    f"Retry failure group ({sel.group.count} jobs)",
                    "key R",
                    self._flow("retry_group", sel),
                    True,
                )
            )
            entries.append(
                PaletteEntry(
                    f"Replay failure group from the dead-letter queue ({sel.group.count} jobs)",
                    "key D",
                    self._flow("replay_dead_group", sel),
                    True,
                )
            )
            if sel.job_id is not None:
                entries.append(
                    PaletteEntry(
                        f"Replay job {sel.job_id} from the dead-letter queue",
                        "key d",
                        self._flow("replay_dead", sel),
                        True,
                    )
                )
        entries.append(
            PaletteEntry(
                "Purge the dead-letter queue (failures stay)",
                "key x",
                self._flow("purge_dead", Selection()),
                True,
            )
        )
        for q in self.overview.queues:
            target = Selection(queue=q.name)
            verb = "Resume" if q.paused else "Pause"
            entries += [
                PaletteEntry(f"{verb} queue {q.name}", "key p", self._flow("pause", target), True),
                PaletteEntry(
                    f"Scale queue {q.name} up", "key +", self._flow("scale_up", target), True
                ),
                PaletteEntry(
                    f"Scale queue {q.name} down", "key -", self._flow("scale_down", target), True
                ),
            ]
        for w in self.overview.workers.workers:
            entries.append(
                PaletteEntry(
                    f"Recycle worker {w.id}",
                    "key k",
                    self._flow("recycle", Selection(worker_id=w.id)),
                    True,
                )
            )
        entries += [
            PaletteEntry("Refresh now", "key ctrl+r", self.action_refresh_data),
            PaletteEntry(
                "Resume live refresh" if self.frozen else "Freeze live refresh",
                "key F",
                self.action_toggle_freeze,
            ),
            PaletteEntry("Help: all key bindings", "key ?", self.action_help),
            PaletteEntry("Quit (drains the embedded engine)", "key q", self.action_quit_console),
        ]
        return entries

    def _flow(self, name: str, selection: Selection) -> Callable[[], None]:
        return _bind(self.start_flow, name, selection)


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def call() -> None:
        fn(*args)

    return call
