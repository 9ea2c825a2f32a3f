"""The DAG view's read of a job's graph, against the real PostgreSQL."""

import pytest
from sqlalchemy import text

from engine.errors import JobNotFound
from engine.specs import JobSpec
from engine.states import State
from tests.support.flow import complete


def diamond():
    return [
        JobSpec("extract", ref="e"),
        JobSpec("transform.a", ref="a", depends_on=["e"]),
        JobSpec("transform.b", ref="b", depends_on=["e"]),
        JobSpec("load", ref="l", depends_on=["a", "b"]),
    ]


async def test_a_workflow_job_shows_the_whole_workflow(client, db):
    wf = await client.submit_workflow(diamond(), name="nightly")
    ids = wf.ids
    await complete(db, ids["e"])

    graph = await client.workflow_graph(ids["a"])

    assert (graph.workflow_id, graph.name, graph.truncated) == (wf.workflow_id, "nightly", False)
    by_id = {n.id: n for n in graph.nodes}
    assert set(by_id) == set(ids.values())
    assert by_id[ids["e"]].state is State.COMPLETED
    assert by_id[ids["e"]].attempts == 1
    assert by_id[ids["a"]].state is State.QUEUED
    assert (by_id[ids["l"]].type, by_id[ids["l"]].state) == ("load", State.PENDING)
    assert set(graph.edges) == {
        (ids["e"], ids["a"]),
        (ids["e"], ids["b"]),
        (ids["a"], ids["l"]),
        (ids["b"], ids["l"]),
    }


async def test_the_same_graph_from_any_job_of_the_workflow(client, db):
    wf = await client.submit_workflow(diamond())
    graphs = [await client.workflow_graph(i) for i in wf.ids.values()]
    assert all(g == graphs[0] for g in graphs)


async def test_jobs_outside_the_workflow_it_is_wired_to_are_shown(client, db):
    older = await client.submit("fetch")
    wf = await client.submit_workflow(
        [JobSpec("parse", ref="p", depends_on=[older.id]), JobSpec("index", ref="i")]
    )
    later = await client.submit("report", depends_on=[wf.ids["p"]])

    graph = await client.workflow_graph(wf.ids["i"])

    by_id = {n.id: n for n in graph.nodes}
    assert set(by_id) == {older.id, later.id, *wf.ids.values()}
    assert by_id[older.id].workflow_id is None
    assert by_id[wf.ids["p"]].workflow_id == graph.workflow_id
    assert set(graph.edges) == {(older.id, wf.ids["p"]), (wf.ids["p"], later.id)}


async def test_a_job_without_workflow_shows_its_connected_component(client, db):
    root = await client.submit("root")
    left = await client.submit("left", depends_on=[root.id])
    right = await client.submit("right", depends_on=[root.id])
    sink = await client.submit("sink", depends_on=[left.id, right.id])
    stranger = await client.submit("stranger")

    graph = await client.workflow_graph(right.id)

    assert graph.workflow_id is None and graph.name is None and not graph.truncated
    assert {n.id for n in graph.nodes} == {root.id, left.id, right.id, sink.id}
    assert stranger.id not in {n.id for n in graph.nodes}
    assert len(graph.edges) == 4

    alone = await client.workflow_graph(stranger.id)
    assert [n.id for n in alone.nodes] == [stranger.id] and alone.edges == ()


async def test_a_long_chain_is_cut_at_the_limit_and_keeps_the_job_asked_for(client, db):
    prev = await client.submit("step")
    chain = [prev.id]
    for _ in range(30):
        prev = await client.submit("step", depends_on=[prev.id])
        chain.append(prev.id)

    graph = await client.workflow_graph(chain[-1], limit=10)

    ids = {n.id for n in graph.nodes}
    assert graph.truncated and len(ids) == 10
    assert chain[-1] in ids
    assert all(a in ids and b in ids for a, b in graph.edges)


async def test_a_big_workflow_is_cut_at_the_limit_and_keeps_the_job_asked_for(client, db):
    wf = await client.submit_workflow(
        [JobSpec("fan.in", ref="sink", depends_on=[f"s{i}" for i in range(20)])]
        + [JobSpec("fan.out", ref=f"s{i}") for i in range(20)]
    )
    graph = await client.workflow_graph(wf.ids["s19"], limit=5)
    ids = {n.id for n in graph.nodes}
    assert graph.truncated and len(ids) == 5 and wf.ids["s19"] in ids


async def test_an_unknown_job_is_refused_by_name(client, db):
    async with db.connection() as conn:
        missing = 1 + (await conn.scalar(text("SELECT coalesce(max(id), 0) FROM jobs")))
    with pytest.raises(JobNotFound, match=f"job {missing} does not exist"):
        await client.workflow_graph(missing)
