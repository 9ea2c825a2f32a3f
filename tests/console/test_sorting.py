"""s / S sort the tables: the Jobs pane on the server (keyset pages), others in place."""

from __future__ import annotations

from engine.specs import JobSpec
from queueconsole.console.panes.jobs import JobsPane
from queueconsole.console.widgets.keyed_table import KeyedTable, sort_value
from tests.console.conftest import screen_text, settle
from tests.support.flow import fail_for_good


def test_cells_sort_by_value_with_units_and_unknowns_last() -> None:
    cells = ["57M", "1.2G", "-", "900K", "12", "3m", "4s", "1,204", "beta", "Alpha"]
    assert sorted(cells, key=sort_value) == [
        "900K",
        "4s",
        "12",
        "57M",
        "3m",
        "1,204",
        "1.2G",
        "Alpha",
        "beta",
        "-",
    ]


async def jobs_table(app, pilot) -> KeyedTable:
    await app.refresh_now()
    await pilot.press("2")
    await settle(app, pilot)
    table = app.query_one("#jobs-table", KeyedTable)
    table.focus()
    return table


async def test_s_sorts_the_jobs_pane_on_the_server_and_S_reverses(client, make_app):
    queues = ["mail", "default", "reports", "mail", "default"]
    jobs = [await client.submit("demo.noop", {"i": i}, queue=q) for i, q in enumerate(queues)]
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        table = await jobs_table(app, pilot)
        assert list(table.row_keys) == [j.id for j in reversed(jobs)]  # newest first
        for _ in range(3):  # id -> state -> type -> queue
            await pilot.press("s")
            await settle(app, pilot)
            await app.refresh_now()
            await settle(app, pilot)
        pane = app.query_one("#jobs", JobsPane)
        assert pane.sort.column == "queue" and pane.sort.descending
        by_queue = sorted(jobs, key=lambda j: (queues[jobs.index(j)], j.id), reverse=True)
        assert list(table.row_keys) == [j.id for j in by_queue]
        assert "queue ▼" in screen_text(app) and "sort: queue ▼" in screen_text(app)
        await pilot.press("S")
        await settle(app, pilot)
        await app.refresh_now()
        await settle(app, pilot)
        assert list(table.row_keys) == [j.id for j in reversed(by_queue)]
        assert "queue ▲" in screen_text(app)


async def test_sorted_pages_continue_where_the_last_one_ended(client, make_app):
    await client.submit_many(
        [JobSpec("demo.noop", {"i": i}, queue=("a", "b")[i % 2]) for i in range(130)]
    )
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        table = await jobs_table(app, pilot)
        pane = app.query_one("#jobs", JobsPane)
        while pane.sort.column != "queue":
            await pilot.press("s")
            await settle(app, pilot)
        seen: list[int] = []
        await app.refresh_now()
        await settle(app, pilot)
        while True:
            seen += [int(str(k)) for k in table.row_keys]
            view = pane._view
            if view is None or view.page.next_after is None:
                break
            await pilot.press("right_square_bracket")
            await settle(app, pilot)
            await app.refresh_now()
            await settle(app, pilot)
        assert len(seen) == len(set(seen)) == 130
        page = await client.jobs(limit=200)
        queue_of = {j.id: j.queue for j in page.items}
        assert [queue_of[i] for i in seen] == sorted((queue_of[i] for i in seen), reverse=True)


async def test_the_failures_table_sorts_in_place(client, db, make_app):
    failures = []
    for error, n in (("FewError", 1), ("ManyError", 3), ("SomeError", 2)):
        for _ in range(n):
            job = await client.submit("api.call", {})
            failures.append((job.id, error, f"{error} happened"))
    await fail_for_good(db, failures)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await app.refresh_now()
        await pilot.press("5")
        await settle(app, pilot)
        await app.refresh_now()
        await settle(app, pilot)
        table = app.query_one("#groups", KeyedTable)
        table.focus()
        await pilot.press("s")  # count, ascending
        await settle(app, pilot)
        counts = [table.get_row(k)[0].plain for k in table.row_keys]
        assert counts == ["1", "2", "3"]
        await pilot.press("S")
        await settle(app, pilot)
        assert [table.get_row(k)[0].plain for k in table.row_keys] == ["3", "2", "1"]
