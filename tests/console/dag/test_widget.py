"""The DAG view driven like a person would: keys, what is on screen, what the app hears."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from engine.snapshots import WorkflowGraph
from engine.states import State
from queueconsole.console.dag.widget import INLINE_LAYOUT_JOBS, DagView
from tests.console.dag.graphs import chain, diamond, graph, node, random_dag

SIZE = (80, 24)

DIAMOND_SCREEN = [
    "nightly · 4 jobs  R running 1  C completed 1  F failed 1  B blocked 1",
    "                        ┌#2────────────────┐",
    "                     ┌─▶│R transform.a     ├─┐",
    "╔#1════════════════╗ │  └─────────────── ×2┘ │   ┌#4────────────────┐",
    "║C extract         ╟─┤                       └┬─▶│B load            │",
    "╚══════════════════╝ │  ┌#3────────────────┐  │  └──────────────────┘",
    "                     └─▶│F transform.b     ├──┘",
    "                        └─────────────── ×4┘",
    *[""] * 15,
    "#1 extract  C completed · queue default · attempt 1",
]


class DagApp(App[None]):
    """A tiny app with nothing but the DAG view, recording what it posts."""

    def __init__(self, graph: WorkflowGraph | None) -> None:
        super().__init__()
        self.initial = graph
        self.opened: list[int] = []
        self.highlighted: list[int | None] = []

    def compose(self) -> ComposeResult:
        yield DagView(self.initial)

    def on_dag_view_job_selected(self, message: DagView.JobSelected) -> None:
        self.opened.append(message.job_id)

    def on_dag_view_job_highlighted(self, message: DagView.JobHighlighted) -> None:
        self.highlighted.append(message.job_id)


def screen(app: DagApp) -> list[str]:
    """The view's rows as the terminal shows them, trailing spaces dropped."""
    view = app.query_one(DagView)
    return [view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)]


def footer(app: DagApp) -> str:
    return screen(app)[-1]


async def test_a_small_workflow_on_an_80x24_terminal():
    app = DagApp(diamond())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert screen(app) == DIAMOND_SCREEN


async def test_arrow_keys_walk_along_edges():
    app = DagApp(diamond())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(DagView)
        assert view.selected == 1 and footer(app).startswith("#1 extract")

        await pilot.press("right")
        first = view.selected
        assert first in (2, 3)
        await pilot.press("down" if first == 2 else "up")
        other = view.selected
        assert {first, other} == {2, 3}
        assert footer(app).startswith(f"#{other} transform.")
        assert any(f"╔#{other}═" in line for line in screen(app))

        await pilot.press("right")
        assert view.selected == 4 and footer(app).startswith("#4 load  B blocked")
        assert view.selected_node.state is State.BLOCKED
        await pilot.press("right")  # load has no dependents: stay
        assert view.selected == 4
        await pilot.press("left")  # back the way we came
        assert view.selected == other
        await pilot.press("left", "left")
        assert view.selected == 1
        await pilot.press("right")  # and forward again retraces the last step
        assert view.selected == other
        await pilot.press("home")
        assert view.selected == 1
        assert app.highlighted[-1] == 1


async def test_enter_asks_the_app_to_open_the_selected_job():
    app = DagApp(diamond())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right", "right", "enter")
        await pilot.pause()
        assert app.opened == [4]


async def test_a_click_selects_a_box_and_a_double_click_opens_it():
    app = DagApp(diamond())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        box = app.query_one(DagView).current_layout.boxes[4]
        at = (box.x + 3, box.y + 1 + 1)  # +1: the legend row above the drawing
        await pilot.click(DagView, offset=at)
        assert app.query_one(DagView).selected == 4
        await pilot.click(DagView, offset=at, times=2)
        await pilot.pause()
        assert app.opened == [4]


async def test_markup_in_a_type_name_shows_literally():
    g = graph(
        [node(1, "[red]x[/]", State.FAILED), node(2, "[link=http://e]y")],
        [(1, 2)],
        name="[b]wf[/b]",
    )
    app = DagApp(g)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = "\n".join(screen(app))
        assert "║F [red]x[/]" in text  # selected: double lines
        assert "[link=http://e]y" in text
        assert text.startswith("[b]wf[/b] · 2 jobs")
        assert footer(app).startswith("#1 [red]x[/]  F failed")


async def test_letters_tell_states_apart_without_colour(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    states = list(State)
    g = graph([node(i + 1, f"s{i}", s) for i, s in enumerate(states)], [])
    app = DagApp(g)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        text = "\n".join(screen(app))
        for i, state in enumerate(states):
            letter = {"retrying": "Y", "cancelled": "X"}.get(state.value, state.value[0].upper())
            assert f"│{letter} s{i}" in text or f"║{letter} s{i}" in text
            assert f"{letter} {state.value} 1" in text  # the legend


async def test_select_scrolls_a_far_job_into_the_middle():
    app = DagApp(chain(30))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(DagView)
        assert "#30" not in "\n".join(screen(app))
        assert view.select(30)
        await pilot.pause()
        assert view.scroll_offset.x > 0
        assert "╔#30═" in "\n".join(screen(app))
        assert footer(app).startswith("#30 step.30")
        assert view.select(999) is False


async def test_moving_off_screen_scrolls_along():
    app = DagApp(chain(12))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(11):
            await pilot.press("right")
        await pilot.pause()
        assert app.query_one(DagView).selected == 12
        assert "╔#12═" in "\n".join(screen(app))


async def test_a_new_snapshot_keeps_selection_and_scroll():
    g = chain(20)
    app = DagApp(g)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(DagView)
        view.select(15)
        await pilot.pause()
        scrolled = view.scroll_offset
        assert scrolled.x > 0

        # The same jobs with new states: nothing moves, the boxes say the new state.
        done = graph([node(n.id, n.type, State.COMPLETED) for n in g.nodes], g.edges)
        view.show(done)
        await pilot.pause()
        assert view.selected == 15 and view.scroll_offset == scrolled
        assert "║C step.15" in "\n".join(screen(app))

        # A job added at the front shifts every column: job 15 stays where it was on screen.
        before = [line.index("╔#15") for line in screen(app) if "╔#15" in line]
        grown = graph([node(0, "step.0"), *done.nodes], [(0, 1), *done.edges])
        view.show(grown)
        await pilot.pause()
        assert view.selected == 15
        after = [line.index("╔#15") for line in screen(app) if "╔#15" in line]
        assert after == before


async def test_a_job_that_disappears_moves_the_selection_to_the_first_job():
    app = DagApp(diamond())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("right", "right")
        view = app.query_one(DagView)
        assert view.selected == 4
        view.show(graph([node(1, "extract"), node(2, "transform.a")], [(1, 2)]))
        await pilot.pause()
        assert view.selected == 1


async def test_show_with_a_job_selects_it():
    app = DagApp(None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = app.query_one(DagView)
        assert screen(app)[0] == "no workflow shown"
        view.show(diamond(), job_id=3)
        await pilot.pause()
        assert view.selected == 3
        view.show(diamond(), job_id=2)  # the same graph: only the selection moves
        await pilot.pause()
        assert view.selected == 2
        view.show(None)
        await pilot.pause()
        assert view.selected is None and footer(app) == "no job selected"


@pytest.mark.slow
async def test_a_big_workflow_is_laid_out_off_the_ui_thread_and_scrolls():
    g = random_dag(INLINE_LAYOUT_JOBS * 2, seed=6)
    app = DagApp(None)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(DagView)
        view.show(g, job_id=g.nodes[-1].id)
        assert footer(app).startswith(f"laying out {len(g.nodes)} jobs")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        last = g.nodes[-1].id
        assert view.selected == last
        assert f"╔#{last}═" in "\n".join(screen(app))
        await pilot.press("pagedown", "pagedown", "shift+right", "shift+down")
        assert view.selected == last  # scrolling does not move the selection
