"""Drawing a laid-out graph: what the rows say, in text and in style."""

import pytest
from rich.cells import cell_len

from engine.states import State
from queueconsole.console.dag.layout import layout
from queueconsole.console.dag.render import (
    STATE_LOOKS,
    DagCanvas,
    describe,
    duration,
    fit,
    legend,
    legend_all,
)
from tests.console.dag.graphs import diamond, graph, node, random_dag

DIAMOND_WITH_2_SELECTED = [
    "                        ╔#2════════════════╗",
    "                     ┌─▶║R transform.a     ╟─┐",
    "┌#1────────────────┐ │  ╚═══════════════ ×2╝ │   ┌#4────────────────┐",
    "│C extract         ├─┤                       └┬─▶│B load            │",
    "└──────────────────┘ │  ┌#3────────────────┐  │  └──────────────────┘",
    "                     └─▶│F transform.b     ├──┘",
    "                        └─────────────── ×4┘",
]


def canvas(g):
    return DagCanvas(layout(g), g)


def text(segments) -> str:
    return "".join(s.text for s in segments)


def test_a_small_workflow_draws_as_expected():
    assert canvas(diamond()).lines(selected=2) == DIAMOND_WITH_2_SELECTED


def test_without_selection_every_box_has_single_lines():
    lines = canvas(diamond()).lines()
    assert not any(ch in "".join(lines) for ch in "╔╗╚╝║═")
    assert lines[1] == "                     ┌─▶│R transform.a     ├─┐"


def test_every_state_has_its_own_letter():
    assert set(STATE_LOOKS) == set(State)
    assert len({look.letter for look in STATE_LOOKS.values()}) == len(State)
    assert text(legend_all()).split("  ") == [
        "P pending",
        "Q queued",
        "R running",
        "Y retrying",
        "C completed",
        "F failed",
        "B blocked",
        "X cancelled",
    ]


def test_each_box_shows_its_state_letter_and_colour():
    c = canvas(diamond())
    box = c.layout.boxes[3]
    segments = c.row(box.port_y, box.x, box.width)
    assert text(segments).startswith("│F transform.b")
    letter = next(s for s in segments if s.text == "F")
    assert letter.style.color.name == STATE_LOOKS[State.FAILED].colour


def test_lines_touching_the_selected_job_stand_out():
    c = canvas(diamond())
    box = c.layout.boxes[4]
    plain = c.row(box.port_y, 0, box.x)  # the lines from the transforms into load
    lit = c.row(box.port_y, 0, box.x, selected=4)
    assert text(plain) == text(lit)
    assert any(s.style and s.style.bold for s in lit if "▶" in s.text)
    assert not any(s.style and s.style.bold for s in plain if "▶" in s.text)


def test_job_text_is_never_markup_and_never_moves_the_cursor():
    g = graph([node(1, "[red]boom[/]"), node(2, "evil\x1b[2J\nname")], [(1, 2)])
    lines = canvas(g).lines()
    assert any("[red]boom[/]" in line for line in lines)
    assert any("evil?[2J?name" in line for line in lines)
    assert "\x1b" not in "".join(lines)


def test_long_and_wide_type_names_fit_their_box_exactly():
    g = graph([node(1, "x" * 50), node(2, "数据处理任务" * 3)], [(1, 2)])
    c = canvas(g)
    width = c.layout.boxes[1].width
    for job_id in (1, 2):
        box = c.layout.boxes[job_id]
        row = text(c.row(box.port_y, box.x, box.width))
        assert cell_len(row) == width
        assert row.endswith("…│") or row.endswith("…├") or row.endswith("… │")


def test_a_window_of_a_row_is_that_slice_of_the_whole_row():
    g = random_dag(40, seed=5)
    c = canvas(g)
    for y in range(0, c.height, 3):
        whole = text(c.row(y, selected=7))
        for x0 in (0, 13, 57, 101):
            part = text(c.row(y, x0, 40, selected=7))
            assert part == whole[x0 : x0 + 40].ljust(40)


def test_a_window_through_a_wide_label_keeps_its_width():
    c = canvas(graph([node(1, "数据处理任务数据")], []))
    for x0 in range(0, 12):
        assert cell_len(text(c.row(1, x0, 7))) == 7


def test_new_states_redraw_without_a_new_layout():
    g = diamond()
    c = canvas(g)
    done = graph([n if n.id != 4 else node(4, "load", State.COMPLETED) for n in g.nodes], g.edges)
    again = c.with_graph(done)
    assert again.layout is c.layout
    assert "│C load" in "\n".join(again.lines())


def test_jobs_outside_the_workflow_have_round_corners():
    g = graph([node(1, "older", workflow_id=None), node(2, "mine")], [(1, 2)])
    lines = canvas(g).lines()
    assert lines[0].startswith("╭#1")
    assert "┌#2" in lines[0]


def test_legend_counts_the_states_present():
    assert text(legend(diamond())) == (
        "nightly · 4 jobs  R running 1  C completed 1  F failed 1  B blocked 1"
    )
    g = graph([node(1)], [], name=None)
    assert text(legend(g)) == "workflow 1 · 1 job  P pending 1"


def test_a_narrow_legend_drops_the_title_then_the_state_names():
    g = graph([node(i + 1, "t", s) for i, s in enumerate(State)], [], name="nightly")
    assert text(legend(g, 200)).startswith("nightly · 8 jobs  P pending 1  Q queued 1")
    assert text(legend(g, 115)).startswith("8 jobs  P pending 1  Q queued 1")
    assert text(legend(g, 80)) == ("nightly · 8 jobs  P 1  Q 1  R 1  Y 1  C 1  F 1  B 1  X 1")


def test_footer_describes_the_selected_job():
    g = graph([node(1, "load", State.BLOCKED, attempts=1, wait_reason="dependency 7 failed")], [])
    assert text(describe(g.nodes[0], g)) == (
        "#1 load  B blocked · queue default · attempt 1 · dependency 7 failed"
    )
    assert text(describe(None, None)) == "no job selected"


@pytest.mark.parametrize(
    ("value", "width", "expected"),
    [
        ("abc", 5, "abc  "),
        ("abcdef", 4, "abc…"),
        ("a\nb", 3, "a?b"),
        ("数据", 3, "数…"),
        ("数据", 4, "数据"),
    ],
)
def test_fit(value, width, expected):
    assert fit(value, width) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.25, "250ms"), (3.21, "3.2s"), (245, "4m05s"), (7380, "2h03m")],
)
def test_duration(seconds, expected):
    assert duration(seconds) == expected
