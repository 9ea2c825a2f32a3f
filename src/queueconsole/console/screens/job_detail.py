"""Job detail (``enter`` on a job): payload, attempts, events, logs, error, dependencies.

Dependencies up and down are a list: ``enter`` on one opens it on top of this
screen and ``escape`` comes back, so a workflow can be walked edge by edge.
The screen re-reads its job on every refresh while it is on top, and while the job
is not finished it also follows it on its own, every :data:`FOLLOW_S` seconds, like
``tail -f``: the lines a running handler logs appear without a key press (workers
write them as they come, see ``engine.worker.process.LIVE_LOGS_S``). The header and
the logs title say "following…" until the job ends, then "ended".
"""

from __future__ import annotations

import json
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from engine.errors import EngineError
from engine.snapshots import JobDetail, JobRef
from engine.states import TERMINAL
from queueconsole.console.messages import OpenJob
from queueconsole.console.model import Selection
from queueconsole.console.source import DataSource
from queueconsole.console.text import duration, literal, megabytes, state_text, when

_JSON = JSONHighlighter()

FOLLOW_S = 0.5  # seconds between reads of a job that has not ended (its live log)


def following(job: JobDetail) -> bool:
    """Whether the screen follows ``job``: until it completes, fails or is cancelled."""
    return job.state not in TERMINAL


def follow_marker(job: JobDetail) -> Text:
    """``following…`` while the job can still log, ``ended`` once it cannot."""
    if following(job):
        return Text("following…", style="bold green")
    return Text("ended", style="dim")


def header_text(job: JobDetail) -> Text:
    """``job 12  demo.sleep  failed  queue default  priority high  ended``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f" job {job.id} ", style="bold reverse")
    text.append(" ")
    text.append_text(literal(job.type, "bold", one_line=True))
    text.append("  ")
    text.append_text(state_text(job.state))
    text.append("  queue ")
    text.append_text(literal(job.queue, one_line=True))
    text.append(f"  priority {job.priority.label}  ")
    text.append_text(follow_marker(job))
    return text


def logs_title(job: JobDetail) -> Text:
    """``logs · following…`` / ``logs · ended``."""
    return Text.assemble(Text("logs", style="bold underline"), " · ", follow_marker(job))


def summary_table(job: JobDetail) -> Table:
    """Attempts, times, worker and limits as a two-column grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows: list[tuple[str, Text]] = [
        ("attempts", Text(f"{job.attempts} ({job.attempts_left} left of {job.max_retries + 1})")),
        ("worker", literal(job.worker_id or "-")),
        ("created", Text(when(job.created_at))),
        ("queued", Text(when(job.queued_at))),
        ("started", Text(when(job.started_at))),
        ("finished", Text(when(job.finished_at))),
        ("run at", Text(when(job.run_at))),
        ("workflow", Text(str(job.workflow_id) if job.workflow_id is not None else "-")),
        ("timeout", Text(duration(job.timeout_s))),
        ("memory", Text(f"{job.memory_mb}M" if job.memory_mb else "-")),
        ("peak rss", Text(megabytes(job.peak_rss_bytes))),
        ("cpu time", Text(duration(job.cpu_time_s))),
        ("key", literal(job.idempotency_key or "-", one_line=True)),
        ("waiting", literal(job.wait_reason or "-", one_line=True)),
    ]
    for i in range(0, len(rows), 2):
        left, right = rows[i], rows[i + 1] if i + 1 < len(rows) else ("", Text(""))
        grid.add_row(left[0], left[1], right[0], right[1])
    return grid


def payload_text(job: JobDetail) -> Text:
    """The payload as indented JSON, highlighted but never interpreted."""
    try:
        pretty = json.dumps(json.loads(job.payload_json), indent=2, ensure_ascii=False)
    except ValueError:
        pretty = job.payload_json
    text = literal(pretty)
    _JSON.highlight(text)
    return text


def error_text(job: JobDetail) -> RenderableType:
    """The last error and its traceback, literally."""
    if job.error is None:
        return Text("no error", style="italic")
    parts: list[RenderableType] = []
    head = Text()
    if job.error.type:
        head.append_text(literal(job.error.type, "bold red"))
        head.append(": ")
    head.append_text(literal(job.error.message or ""))
    parts.append(head)
    if job.error.fingerprint:
        parts.append(Text.assemble("fingerprint ", literal(job.error.fingerprint, "dim")))
    if job.error.traceback:
        parts.append(literal(job.error.traceback, "dim"))
    return Group(*parts)


def events_table(job: JobDetail) -> RenderableType:
    """The audit trail, oldest first."""
    if not job.events:
        return Text("no events", style="italic")
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in ("at", "from → to", "att", "worker", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for e in job.events:
        move = Text()
        move.append_text(state_text(e.from_state) if e.from_state else Text("new"))
        move.append(" → ")
        move.append_text(state_text(e.to_state))
        table.add_row(
            Text(when(e.at)),
            move,
            Text(str(e.attempt)),
            literal(e.worker_id or "-"),
            literal(e.reason or ""),
        )
    return table


def logs_text(job: JobDetail) -> RenderableType:
    """What the handler logged, per attempt."""
    if not job.logs:
        return Text("no logs", style="italic")
    text = Text()
    for i, line in enumerate(job.logs):
        if i:
            text.append("\n")
        text.append(f"{when(line.at)} #{line.attempt} ", style="dim")
        text.append_text(literal(line.level.upper(), "bold"))
        text.append(" ")
        text.append_text(literal(line.message))
    return text


def dependency_option(ref: JobRef, direction: str) -> Option:
    """``↑ 12 extract completed``; the option id is the job id."""
    prompt = Text(f"{direction} {ref.id} ")
    prompt.append_text(literal(ref.type, one_line=True))
    prompt.append(" ")
    prompt.append_text(state_text(ref.state))
    return Option(prompt, id=f"{direction}{ref.id}")


class JobDetailScreen(Screen[None]):
    """One job in full. ``escape`` goes back; ``enter`` on a dependency opens it.

    Args:
        job_id: the job to show.
        source: where to re-read it while it has not ended; None follows nothing
            (the app's refreshes still redraw it).
    """

    DEFAULT_CSS = """
    JobDetailScreen #detail-header {
        height: 1;
        background: $panel;
    }
    JobDetailScreen #detail-body {
        height: 1fr;
        padding: 0 1;
    }
    JobDetailScreen .section {
        text-style: bold underline;
        margin-top: 1;
        height: 1;
    }
    JobDetailScreen #deps {
        height: auto;
        max-height: 12;
        border: none;
    }
    JobDetailScreen Static {
        height: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("pagedown", "scroll_body(1)", "Scroll down", show=False),
        Binding("pageup", "scroll_body(-1)", "Scroll up", show=False),
    ]

    def __init__(self, job_id: int, *, source: DataSource | None = None) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: JobDetail | None = None
        self._source = source
        self._follow_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(f" job {self.job_id} (loading…)"), id="detail-header")
        with VerticalScroll(id="detail-body"):
            yield Static(id="summary")
            yield Static(Text("dependencies (enter opens)"), classes="section")
            yield OptionList(id="deps")
            yield Static(Text("payload"), classes="section")
            yield Static(id="payload")
            yield Static(Text("error"), classes="section")
            yield Static(id="error")
            yield Static(Text("events"), classes="section")
            yield Static(id="events")
            yield Static(Text("logs"), classes="section", id="logs-title")
            yield Static(id="logs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#deps", OptionList).focus()

    async def load(self, source: DataSource) -> JobDetail:
        """Read the job (the app calls this on every refresh while the screen is on top)."""
        return await source.job(self.job_id)

    def show(self, job: JobDetail) -> None:
        """Draw ``job``; unchanged snapshots are not redrawn."""
        if job == self.job:
            return
        new_lines = self.job is not None and len(job.logs) > len(self.job.logs)
        body = self.query_one("#detail-body", VerticalScroll)
        at_end = body.scroll_y >= body.max_scroll_y
        self.job = job
        self.query_one("#detail-header", Static).update(header_text(job))
        self.query_one("#logs-title", Static).update(logs_title(job))
        self.query_one("#summary", Static).update(summary_table(job))
        self.query_one("#payload", Static).update(payload_text(job))
        self.query_one("#error", Static).update(error_text(job))
        self.query_one("#events", Static).update(events_table(job))
        self.query_one("#logs", Static).update(logs_text(job))
        deps = self.query_one("#deps", OptionList)
        highlighted = deps.highlighted
        deps.clear_options()
        options = [dependency_option(r, "↑") for r in job.upstream]
        options += [dependency_option(r, "↓") for r in job.downstream]
        if options:
            deps.add_options(options)
            deps.highlighted = 0 if highlighted is None else min(highlighted, len(options) - 1)
        else:
            deps.add_option(Option(Text("no dependencies", style="italic"), disabled=True))
        if new_lines and at_end and body.max_scroll_y > 0:
            # tail -f: an operator reading the end of the log keeps seeing its end
            self.call_after_refresh(body.scroll_end, animate=False)
        if following(job):
            self._arm_follow()

    @property
    def is_following(self) -> bool:
        """Whether the next re-read of a job that has not ended is armed."""
        return self._follow_timer is not None

    def _arm_follow(self) -> None:
        """Re-read the job in :data:`FOLLOW_S` seconds: a one-shot timer re-armed after
        each read, so a slow database never stacks reads up, and nothing waits on it."""
        if self._source is not None and self._follow_timer is None:
            self._follow_timer = self.set_timer(FOLLOW_S, self._follow_tick, name="follow-job")

    def _follow_tick(self) -> None:
        self._follow_timer = None
        if self._source is None or self.job is None or not following(self.job):
            return
        if getattr(self.app, "frozen", False):  # F pauses it as it pauses the panes
            self._arm_follow()
            return
        self.run_worker(
            self._follow_once(self._source), group="follow", exclusive=True, exit_on_error=False
        )

    async def _follow_once(self, source: DataSource) -> None:
        """One re-read; :meth:`show` arms the next while the job has not ended."""
        try:
            job = await source.job(self.job_id)
        except (EngineError, TimeoutError, OSError) as exc:
            self.show_error(source.link.settings.redact(str(exc) or type(exc).__name__))
            self._arm_follow()
            return
        if self.is_attached:
            self.show(job)
            if following(job):
                self._arm_follow()  # an unchanged snapshot is not redrawn, but still followed

    def show_error(self, message: str) -> None:
        """The job could not be read this time."""
        header = self.query_one("#detail-header", Static)
        header.update(Text(f" job {self.job_id}: not refreshed: {message}", style="italic"))

    def selection(self) -> Selection:
        """The job on screen."""
        if self.job is None:
            return Selection(job_id=self.job_id)
        return Selection(
            job_id=self.job.id,
            job_state=self.job.state,
            workflow_id=self.job.workflow_id,
            queue=self.job.queue,
        )

    @on(OptionList.OptionSelected, "#deps")
    def _open_dependency(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option_id = event.option.id
        if option_id:
            self.post_message(OpenJob(int(option_id[1:])))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_scroll_body(self, pages: int) -> None:
        body = self.query_one("#detail-body", VerticalScroll)
        if pages > 0:
            body.scroll_page_down()
        else:
            body.scroll_page_up()
