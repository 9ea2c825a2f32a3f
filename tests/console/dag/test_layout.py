"""The DAG layout on its own: geometry a reader of the drawing relies on."""

import itertools
import random

import pytest

from queueconsole.console.dag.layout import Layout, LayoutOptions, layout
from tests.console.dag.graphs import chain, diamond, graph, node, random_dag

N, E, S, W = 1, 2, 4, 8


def route_cells(route) -> dict[tuple[int, int], int]:
    """Every cell an edge's line passes through, with the directions it leaves it by."""
    cells: dict[tuple[int, int], int] = {}
    for (xa, ya), (xb, yb) in itertools.pairwise(route.points):
        if ya == yb:
            lo, hi = sorted((xa, xb))
            for x in range(lo, hi + 1):
                cells[x, ya] = cells.get((x, ya), 0) | (W if x > lo else 0) | (E if x < hi else 0)
        else:
            lo, hi = sorted((ya, yb))
            for y in range(lo, hi + 1):
                cells[xa, y] = cells.get((xa, y), 0) | (N if y > lo else 0) | (S if y < hi else 0)
    return cells


def false_joins(laid: Layout) -> list[tuple]:
    """Cells where lines of two edges with no job in common meet other than by crossing
    straight over each other: there the drawing would connect jobs that are not."""
    cells = [route_cells(r) for r in laid.routes]
    owners: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(cells):
        for cell in c:
            owners.setdefault(cell, []).append(i)
    found = []
    for cell, routes in owners.items():
        for i, j in itertools.combinations(routes, 2):
            a, b = laid.routes[i], laid.routes[j]
            if a.source == b.source or a.target == b.target:
                continue
            if {cells[i][cell], cells[j][cell]} != {N | S, E | W}:
                found.append((cell, (a.source, a.target), (b.source, b.target)))
    return found


def lines_through_boxes(laid: Layout) -> list[tuple]:
    return [
        (cell, box.id)
        for route in laid.routes
        for cell in route_cells(route)
        for box in laid.boxes.values()
        if box.contains(*cell)
    ]


def overlapping_boxes(laid: Layout) -> list[tuple[int, int]]:
    return [
        (a.id, b.id)
        for a, b in itertools.combinations(laid.boxes.values(), 2)
        if a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    ]


def test_work_flows_left_to_right():
    g = random_dag(80, seed=1)
    laid = layout(g)
    for a, b in g.edges:
        assert laid.boxes[a].layer < laid.boxes[b].layer
        assert laid.boxes[a].x + laid.boxes[a].width < laid.boxes[b].x


def test_no_two_boxes_overlap():
    for seed in range(5):
        assert overlapping_boxes(layout(random_dag(60, seed))) == []


def test_every_edge_is_drawn_from_box_to_box_in_straight_runs():
    g = random_dag(60, seed=2)
    laid = layout(g)
    assert sorted((r.source, r.target) for r in laid.routes) == sorted(g.edges)
    for route in laid.routes:
        src, dst = laid.boxes[route.source], laid.boxes[route.target]
        assert route.points[0] == (src.x + src.width, src.port_y)
        assert route.points[-1] == (dst.x - 1, dst.port_y)
        for (xa, ya), (xb, yb) in itertools.pairwise(route.points):
            assert xa == xb or ya == yb


@pytest.mark.parametrize("seed", range(40))
def test_lines_of_unrelated_edges_never_join(seed):
    rnd = random.Random(seed)
    g = random_dag(rnd.randint(6, 40), seed, per_job=rnd.randint(1, 4), window=rnd.randint(2, 15))
    laid = layout(g)
    assert false_joins(laid) == []
    assert lines_through_boxes(laid) == []


def test_crossing_reduction_untangles_a_twisted_graph():
    # Ids put the sources in the opposite order of their targets: six crossings as given.
    g = graph([node(i) for i in range(1, 9)], [(1, 8), (2, 7), (3, 6), (4, 5)])
    laid = layout(g)
    assert laid.initial_crossings == 6
    assert laid.crossings == 0
    assert layout(g, LayoutOptions(sweeps=0)).crossings == 6


@pytest.mark.parametrize("seed", range(10))
def test_crossing_reduction_never_makes_it_worse(seed):
    laid = layout(random_dag(120, seed))
    assert laid.crossings <= laid.initial_crossings


def test_the_same_graph_always_gets_the_same_drawing():
    g = random_dag(150, seed=3)
    shuffled = list(g.nodes)
    random.Random(9).shuffle(shuffled)
    edges = list(g.edges)
    random.Random(10).shuffle(edges)
    again = graph(shuffled, edges)
    assert layout(g) == layout(g) == layout(again)


def test_a_500_job_workflow_lays_out_completely():
    g = random_dag(500, seed=4)
    laid = layout(g)
    assert set(laid.boxes) == {n.id for n in g.nodes}
    assert len(laid.routes) == len(g.edges) >= 900
    assert overlapping_boxes(laid) == []
    assert false_joins(laid) == []
    assert laid.crossings < laid.initial_crossings
    assert all(b.y >= 0 and b.y + b.height <= laid.height for b in laid.boxes.values())
    assert all(b.x + b.width <= laid.width for b in laid.boxes.values())


def test_a_long_edge_is_a_straight_line_past_the_columns_between():
    g = graph([node(i) for i in range(1, 5)], [(1, 2), (2, 3), (3, 4), (1, 4)])
    laid = layout(g)
    long = next(r for r in laid.routes if (r.source, r.target) == (1, 4))
    assert laid.virtual_points == 2
    assert len({y for _, y in long.points}) <= 3  # out, along, back in


def test_a_chain_is_one_straight_row():
    laid = layout(chain(5))
    assert len({b.port_y for b in laid.boxes.values()}) == 1
    assert [len(column) for column in laid.layers] == [1] * 5


def test_a_root_needed_late_sits_next_to_what_needs_it():
    # 10 only feeds the last step of a chain: drawn beside it, not in the first column.
    g = chain(4)
    g = graph([*g.nodes, node(10)], [*g.edges, (10, 4)])
    laid = layout(g)
    assert laid.boxes[10].layer == laid.boxes[4].layer - 1


def test_empty_single_and_edgeless_graphs():
    assert layout(graph([], [])).boxes == {}
    one = layout(graph([node(7)], []))
    assert one.root == 7 and one.routes == () and one.width == one.boxes[7].width
    many = layout(graph([node(i) for i in range(3)], []))
    assert [len(c) for c in many.layers] == [3]


def test_a_cycle_is_broken_not_fatal():
    laid = layout(graph([node(1), node(2), node(3)], [(1, 2), (2, 3), (3, 1)]))
    assert laid.dropped_edges == ((3, 1),)
    assert len(laid.routes) == 2


def test_edges_to_unknown_jobs_and_self_loops_are_ignored():
    laid = layout(graph([node(1), node(2)], [(1, 2), (2, 2), (1, 99)]))
    assert [(r.source, r.target) for r in laid.routes] == [(1, 2)]


def test_box_size_is_an_option():
    laid = layout(diamond(), LayoutOptions(box_width=12, box_height=5))
    assert {(b.width, b.height) for b in laid.boxes.values()} == {(12, 5)}
    with pytest.raises(ValueError):
        LayoutOptions(box_height=4)


def test_arrow_keys_follow_edges_and_columns():
    laid = layout(diamond())
    top, bottom = laid.layers[1]
    assert laid.root == 1
    assert laid.neighbour(1, "right") in (2, 3)
    assert laid.neighbour(1, "right", prefer=3) == 3
    assert laid.neighbour(top, "down") == bottom
    assert laid.neighbour(bottom, "down") == bottom
    assert laid.neighbour(bottom, "up") == top
    assert laid.neighbour(2, "right") == 4
    assert laid.neighbour(4, "left", prefer=3) == 3
    assert laid.neighbour(4, "right") == 4
    assert laid.neighbour(1, "left") == 1


def test_right_prefers_the_next_column():
    # 1 feeds 2 (next column) and 4 (three columns on, on 1's own row).
    g = graph([node(i) for i in range(1, 5)], [(1, 2), (2, 3), (3, 4), (1, 4)])
    assert layout(g).neighbour(1, "right") == 2


def test_box_at_finds_the_job_under_a_cell():
    laid = layout(diamond())
    box = laid.boxes[4]
    assert laid.box_at(box.x, box.y) == 4
    assert laid.box_at(box.x + box.width, box.y) is None
