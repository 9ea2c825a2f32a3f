"""Cron schedules: validation, firing exactly once per tick with several engines, catch-up.

Ticks are made due by moving a schedule's ``next_fire_at`` into the past (the
database clock owns firing, so this is what "the time came" looks like to a
scheduler). The crons used tick once a year, so no real tick can come due while
a test runs and change what it counts.
"""

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from engine.db.database import Database
from engine.errors import UserError, ValidationError
from engine.maintenance import scheduler as ops
from engine.maintenance.base import ServiceGroup
from engine.maintenance.scheduler import ScheduleService
from engine.states import State
from tests.ops.conftest import RecordingHook, scalar
from tests.support.flow import events_of

YEARLY = "0 0 1 1 *"


def _jan1(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


async def _db_year(db: Database) -> int:
    return int(await scalar(db, "SELECT extract(year FROM now() AT TIME ZONE 'UTC')"))


async def _make_due(db: Database, name: str, tick: datetime) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            text("UPDATE schedules SET next_fire_at = :tick WHERE name = :name"),
            {"tick": tick, "name": name},
        )


async def _jobs_of(db: Database, job_type: str) -> list[tuple[int, dict]]:
    async with db.connection() as conn:
        rows = await conn.execute(
            text("SELECT id, payload FROM jobs WHERE type = :t ORDER BY id"), {"t": job_type}
        )
        return [(r.id, r.payload) for r in rows]


# -- cron arithmetic (pure) -------------------------------------------------


def test_next_tick_honours_the_time_zone_and_its_daylight_saving():
    winter = ops.next_tick("0 9 * * *", "Europe/Paris", datetime(2026, 1, 10, 12, tzinfo=UTC))
    summer = ops.next_tick("0 9 * * *", "Europe/Paris", datetime(2026, 7, 10, 12, tzinfo=UTC))
    assert winter == datetime(2026, 1, 11, 8, tzinfo=UTC)
    assert summer == datetime(2026, 7, 11, 7, tzinfo=UTC)
    assert ops.next_tick("0 9 * * *", "UTC", datetime(2026, 1, 10, 9, tzinfo=UTC)) == datetime(
        2026, 1, 11, 9, tzinfo=UTC
    )


def test_catch_up_fires_the_latest_missed_tick_once_and_counts_the_rest():
    due = datetime(2026, 3, 1, 10, tzinfo=UTC)
    now = datetime(2026, 3, 1, 13, 30, tzinfo=UTC)
    tick, missed, following = ops.catch_up("0 * * * *", "UTC", due, now)
    assert tick == datetime(2026, 3, 1, 13, tzinfo=UTC)
    assert missed == 3  # 10:00, 11:00 and 12:00 are folded into the 13:00 fire
    assert following == datetime(2026, 3, 1, 14, tzinfo=UTC)
    on_time = ops.catch_up("0 * * * *", "UTC", due, datetime(2026, 3, 1, 10, 0, 2, tzinfo=UTC))
    assert on_time == (due, 0, datetime(2026, 3, 1, 11, tzinfo=UTC))


def test_catch_up_after_a_very_long_outage_stays_cheap_and_lands_on_the_latest_tick():
    due = datetime(2024, 1, 1, tzinfo=UTC)
    now = datetime(2026, 6, 15, 8, 7, 30, tzinfo=UTC)
    tick, missed, following = ops.catch_up("* * * * *", "UTC", due, now)
    assert tick == datetime(2026, 6, 15, 8, 7, tzinfo=UTC)
    assert missed == ops.MISSED_COUNT_CAP
    assert following == datetime(2026, 6, 15, 8, 8, tzinfo=UTC)


# -- operator mistakes --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "*/5 * * *"}, "has 4 fields; it needs 5"),
        ({"cron": "0 0 * * * *"}, "has 6 fields"),
        ({"cron": "61 * * * *"}, "is not valid"),
        ({"cron": "@reboot"}, "has 1 field"),
        ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"tz": "../etc/passwd"}, "unknown time zone"),
        ({"name": "has space"}, "schedule name 'has space' is not usable"),
        ({"job_type": ""}, "type is empty"),
        ({"payload": {"x": float("nan")}}, "payload is not valid JSON"),
        ({"queue": "-q"}, "is not a queue name"),
        ({"priority": "urgent"}, "priority"),
    ],
)
async def test_bad_schedules_are_refused_with_one_clear_line_and_nothing_written(
    client, db, kwargs, message
):
    args = {"name": "nightly", "cron": "0 3 * * *", "job_type": "reports.daily"} | kwargs
    with pytest.raises(UserError, match=message) as refused:
        await client.add_schedule(
            args.pop("name"),
            args.pop("cron"),
            args.pop("job_type"),
            **{k: v for k, v in args.items()},
        )
    assert "\n" not in str(refused.value)
    assert await client.schedules() == []


async def test_a_name_is_taken_once_and_unknown_names_are_refused(client):
    await client.add_schedule("nightly", "@daily", "reports.daily")
    with pytest.raises(UserError, match="'nightly' already exists"):
        await client.add_schedule("nightly", "@hourly", "reports.hourly")
    for action in (client.remove_schedule, client.pause_schedule, client.resume_schedule):
        with pytest.raises(UserError, match="schedule 'nope' does not exist"):
            await action("nope")
    assert [s.cron for s in await client.schedules()] == ["@daily"]


async def test_added_schedule_waits_for_its_first_tick_after_now(client, db):
    schedule = await client.add_schedule(
        "nightly", " 30  2 * * * ", "reports.daily", {"k": 1}, tz="Europe/Paris", queue="rep"
    )
    now = await scalar(db, "SELECT now()")
    assert schedule.cron == "30 2 * * *"
    assert now < schedule.next_fire_at
    local = schedule.next_fire_at.astimezone(ops.check_tz("Europe/Paris"))
    assert (local.hour, local.minute) == (2, 30) or local.hour == 3  # 3:00 on a spring-forward day
    delay = await ScheduleService(db.settings, db).tick()
    assert delay > 0 and await _jobs_of(db, "reports.daily") == []


# -- firing -------------------------------------------------------------------


async def test_a_due_schedule_fires_one_job_through_the_ordinary_submission(client, db):
    hook = RecordingHook()
    await client.add_schedule("yearly", YEARLY, "reports.yearly", {"k": "v"}, queue="rep")
    year = await _db_year(db)
    await _make_due(db, "yearly", _jan1(year))

    service = ScheduleService(db.settings, db, [hook])
    await service.tick()

    [(job_id, payload)] = await _jobs_of(db, "reports.yearly")
    assert payload == {"k": "v"}
    job = await client.job(job_id)
    assert (job.state, job.queue) == (State.QUEUED, "rep")
    assert [r[0] for r in hook.runnables] == [job_id]  # published after commit
    trail = await events_of(db, job_id)
    assert trail[0][:2] == (None, "queued")
    assert trail[1][2].startswith(f"fired by schedule 'yearly' for tick {year}-01-01")
    [schedule] = await client.schedules()
    assert schedule.last_tick == _jan1(year) and schedule.last_job_id == job_id
    assert schedule.next_fire_at == _jan1(year + 1)
    assert service.fired == 1


async def test_two_engines_ticking_at_once_fire_each_tick_exactly_once(migrated, client, db):
    """Two schedulers on two connection pools race over the same due schedules; the row
    lock (and the unique (schedule, tick) row behind it) lets each tick fire once."""
    year = await _db_year(db)
    names = [f"s{i:02d}" for i in range(25)]
    for name in names:
        await client.add_schedule(name, YEARLY, "race.job", {"schedule": name})
        await _make_due(db, name, _jan1(year))
    other = Database(migrated)
    try:
        engines = [
            ScheduleService(db.settings, db, batch=3),
            ScheduleService(other.settings, other, batch=3),
        ]
        for _ in range(3):  # every round: both engines, many ticks in flight at once
            await asyncio.gather(*(e.tick() for e in engines for _ in range(8)))
    finally:
        await other.close()

    jobs = await _jobs_of(db, "race.job")
    assert sorted(p["schedule"] for _, p in jobs) == names
    assert sum(e.fired for e in engines) == len(names)
    assert engines[0].fired and engines[1].fired  # both took part
    fires = await scalar(db, "SELECT count(*) FROM schedule_fires WHERE job_id IS NOT NULL")
    assert fires == len(names)
    assert {s.next_fire_at for s in await client.schedules()} == {_jan1(year + 1)}


async def test_one_due_schedule_under_twenty_concurrent_ticks_fires_once(migrated, client, db):
    year = await _db_year(db)
    await client.add_schedule("only", YEARLY, "race.one")
    await _make_due(db, "only", _jan1(year))
    other = Database(migrated)
    try:
        engines = [ScheduleService(db.settings, db), ScheduleService(other.settings, other)]
        await asyncio.gather(*(e.tick() for e in engines for _ in range(10)))
    finally:
        await other.close()
    assert len(await _jobs_of(db, "race.one")) == 1


async def test_the_unique_tick_row_refuses_a_second_fire_of_the_same_tick(client, db):
    """Even if a schedule's next_fire_at were put back to a tick that already fired (a
    restored backup, a manual edit), that tick does not fire again."""
    year = await _db_year(db)
    await client.add_schedule("yearly", YEARLY, "reports.yearly")
    await _make_due(db, "yearly", _jan1(year))
    await ScheduleService(db.settings, db).tick()
    await _make_due(db, "yearly", _jan1(year))
    await ScheduleService(db.settings, db).tick()
    assert len(await _jobs_of(db, "reports.yearly")) == 1
    [schedule] = await client.schedules()
    assert schedule.next_fire_at == _jan1(year + 1)


class SignallingScheduler(ScheduleService):
    """A scheduler that says when it has finished a tick (a test signal, not a sleep)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.settings, db)
        self.ticked = asyncio.Event()

    async def tick(self) -> float:
        delay = await super().tick()
        self.ticked.set()
        return delay


async def test_ticks_missed_while_every_engine_was_down_fire_once_on_start_up(client, db):
    year = await _db_year(db)
    await client.add_schedule("yearly", YEARLY, "reports.yearly")
    await _make_due(db, "yearly", _jan1(year - 3))  # down since three ticks before this one

    engine = SignallingScheduler(db)
    group = ServiceGroup([engine])
    group.start()
    try:
        await asyncio.wait_for(engine.ticked.wait(), timeout=60)
    finally:
        await group.stop()

    [(job_id, _)] = await _jobs_of(db, "reports.yearly")
    async with db.connection() as conn:
        fire = (await conn.execute(text("SELECT tick, missed, job_id FROM schedule_fires"))).one()
    assert (fire.tick, fire.missed, fire.job_id) == (_jan1(year), 3, job_id)
    assert "(3 missed ticks skipped)" in (await events_of(db, job_id))[1][2]
    [schedule] = await client.schedules()
    assert schedule.next_fire_at == _jan1(year + 1)
    await ScheduleService(db.settings, db).tick()  # a second engine starting now finds nothing due
    assert len(await _jobs_of(db, "reports.yearly")) == 1


async def test_a_paused_schedule_does_not_fire_and_resumes_from_its_next_tick(client, db):
    year = await _db_year(db)
    await client.add_schedule("yearly", YEARLY, "reports.yearly")
    paused = await client.pause_schedule("yearly")
    assert paused.paused
    await _make_due(db, "yearly", _jan1(year))
    await ScheduleService(db.settings, db).tick()
    assert await _jobs_of(db, "reports.yearly") == []

    resumed = await client.resume_schedule("yearly")
    assert not resumed.paused and resumed.next_fire_at == _jan1(year + 1)  # no catch-up
    await ScheduleService(db.settings, db).tick()
    assert await _jobs_of(db, "reports.yearly") == []


async def test_a_fire_into_a_full_queue_submits_nothing_and_moves_on(client, db):
    year = await _db_year(db)
    await client.set_queue_limit("rep", 1)
    await client.submit("demo.noop", queue="rep")
    await client.add_schedule("yearly", YEARLY, "reports.yearly", queue="rep")
    await _make_due(db, "yearly", _jan1(year))
    await ScheduleService(db.settings, db).tick()
    assert await _jobs_of(db, "reports.yearly") == []
    async with db.connection() as conn:
        fire = (await conn.execute(text("SELECT job_id, note FROM schedule_fires"))).one()
    assert fire.job_id is None and "'rep' is full" in fire.note
    [schedule] = await client.schedules()
    assert schedule.next_fire_at == _jan1(year + 1)


async def test_on_the_engines_driver_pool_a_refused_fire_rolls_back_only_itself(client, db):
    """The engine runs its services on asyncpg's pool (DriverDatabase): a refused job is
    undone by its own savepoint there too, and the other schedule's job still lands."""
    from engine.db.driver import DriverDatabase

    year = await _db_year(db)
    await client.set_queue_limit("rep", 1)
    await client.submit("demo.noop", queue="rep")
    await client.add_schedule("full", YEARLY, "reports.full", queue="rep")
    await client.add_schedule("fine", YEARLY, "reports.fine")
    await _make_due(db, "full", _jan1(year))
    await _make_due(db, "fine", _jan1(year))
    pool = DriverDatabase(db.settings)
    try:
        await ScheduleService(db.settings, pool).tick()
    finally:
        await pool.close()
    assert await _jobs_of(db, "reports.full") == []
    assert len(await _jobs_of(db, "reports.fine")) == 1
    fires = "SELECT s.name, f.note FROM schedule_fires f JOIN schedules s ON s.id = f.schedule_id"
    async with db.connection() as conn:
        notes = dict((await conn.execute(text(fires))).all())
    assert notes["fine"] is None and "'rep' is full" in notes["full"]
    assert {s.name: s.next_fire_at for s in await client.schedules()} == {
        "fine": _jan1(year + 1),
        "full": _jan1(year + 1),
    }


async def test_removing_a_schedule_keeps_the_jobs_it_submitted(client, db):
    year = await _db_year(db)
    await client.add_schedule("yearly", YEARLY, "reports.yearly")
    await _make_due(db, "yearly", _jan1(year))
    await ScheduleService(db.settings, db).tick()
    await client.remove_schedule("yearly")
    assert await client.schedules() == []
    assert len(await _jobs_of(db, "reports.yearly")) == 1
    assert await scalar(db, "SELECT count(*) FROM schedule_fires") == 0


async def test_validation_errors_are_validation_errors(client):
    with pytest.raises(ValidationError):
        await client.add_schedule("s", "@daily", "bad type!")


# -- command line -------------------------------------------------------------


def _cli(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "queueconsole", *args], env=env, capture_output=True, text=True
    )


async def test_cli_schedule_add_list_pause_resume_remove(cli_env, db):
    out = _cli(
        cli_env,
        "schedule",
        "add",
        "cleanup",
        "maint.cleanup",
        "--cron",
        "*/5 * * * *",
        "--payload",
        '{"deep": true}',
        "--queue",
        "maint",
        "--tz",
        "Europe/Paris",
    )
    assert out.returncode == 0, out.stderr
    assert "schedule cleanup" in out.stdout
    listed = json.loads(_cli(cli_env, "schedule", "list", "--json").stdout)
    assert [(s["name"], s["cron"], s["tz"], s["queue"], s["payload"]) for s in listed] == [
        ("cleanup", "*/5 * * * *", "Europe/Paris", "maint", {"deep": True})
    ]
    assert _cli(cli_env, "schedule", "pause", "cleanup").returncode == 0
    assert json.loads(_cli(cli_env, "schedule", "list", "--json").stdout)[0]["paused"] is True
    assert "resumed" in _cli(cli_env, "schedule", "resume", "cleanup").stdout
    assert "cleanup" in _cli(cli_env, "schedule", "list").stdout
    assert _cli(cli_env, "schedule", "remove", "cleanup").returncode == 0
    assert json.loads(_cli(cli_env, "schedule", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "*/5 * *"], "cron expression"),
        (["--cron", "@daily", "--tz", "Nowhere/Land"], "unknown time zone 'Nowhere/Land'"),
        (["--cron", "@daily", "--payload", "[1]"], "--payload must be a JSON object"),
    ],
)
async def test_cli_schedule_mistakes_exit_2_with_one_line(cli_env, db, args, message):
    out = _cli(cli_env, "schedule", "add", "bad", "demo.noop", *args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr
    assert await scalar(db, "SELECT count(*) FROM schedules") == 0
    missing = _cli(cli_env, "schedule", "remove", "ghost")
    assert missing.returncode == 2 and "schedule 'ghost' does not exist" in missing.stderr


async def test_fire_now_submits_one_job_and_leaves_the_next_tick_alone(client, db):
    hook = RecordingHook()
    client.hooks.append(hook)
    schedule = await client.add_schedule("nightly", YEARLY, "reports.nightly", {"n": 1})
    await client.pause_schedule("nightly")  # a paused schedule can be fired by hand
    fired = await client.fire_schedule("nightly")
    job = await client.job(fired.job_id)
    assert (job.type, job.state, job.payload) == ("reports.nightly", State.QUEUED, {"n": 1})
    assert fired.job_id in [r[0] for r in hook.runnables]  # published after commit
    [after] = await client.schedules()
    assert after.next_fire_at == schedule.next_fire_at and after.paused
    assert after.last_job_id == fired.job_id and after.last_tick == fired.tick
    assert await scalar(db, "SELECT count(*) FROM schedule_fires WHERE job_id IS NOT NULL") == 1
    trail = await events_of(db, fired.job_id)
    assert trail[1][2].startswith("fired now by schedule 'nightly'")


async def test_fire_now_of_a_full_queue_or_unknown_schedule_says_why_and_writes_nothing(client, db):
    await client.add_schedule("full", YEARLY, "reports.full", queue="tight")
    await client.set_queue_limit("tight", 1)
    await client.submit("demo.noop", queue="tight")
    with pytest.raises(UserError, match="schedule 'full' fired no job"):
        await client.fire_schedule("full")
    with pytest.raises(UserError, match="schedule 'ghost' does not exist"):
        await client.fire_schedule("ghost")
    assert await scalar(db, "SELECT count(*) FROM schedule_fires") == 0
    assert await scalar(db, "SELECT count(*) FROM jobs") == 1  # only the one that filled it


async def test_missed_ticks_are_totalled_per_schedule(client, db):
    await client.add_schedule("often", "* * * * *", "demo.noop")
    await client.add_schedule("steady", YEARLY, "demo.noop")
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO schedule_fires (schedule_id, tick, missed) "
                "SELECT id, now() - make_interval(mins => g), 5 FROM schedules, "
                "generate_series(1, 3) g WHERE name = 'often'"
            )
        )
    assert await client.schedule_missed_ticks() == {"often": 15}


async def test_cli_schedule_fire(cli_env, db):
    assert _cli(cli_env, "schedule", "add", "now", "demo.noop", "--cron", YEARLY).returncode == 0
    out = _cli(cli_env, "schedule", "fire", "now", "--json")
    assert out.returncode == 0, out.stderr
    fired = json.loads(out.stdout)
    assert fired["name"] == "now" and fired["job_id"] > 0
    assert await scalar(db, f"SELECT type FROM jobs WHERE id = {int(fired['job_id'])}") == (
        "demo.noop"
    )
    missing = _cli(cli_env, "schedule", "fire", "ghost")
    assert missing.returncode == 2 and "schedule 'ghost' does not exist" in missing.stderr
