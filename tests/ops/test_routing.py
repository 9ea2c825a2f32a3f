"""Routing rules at every entry point, on the real services: the command line, the
Python client (submit, submit_many, submit_workflow), workflow files and schedules.
A queue or priority the submitter names always wins."""

import json

import pytest

from engine.client import Client
from engine.maintenance.scheduler import ScheduleService
from engine.priority import Priority
from engine.specs import JobSpec
from tests.ops.test_schedules import YEARLY, _db_year, _jan1, _make_due

ROUTES = [
    {"type": "reports.*", "queue": "slow", "priority": "low"},
    {"type": "mail.*", "priority": "high"},
]


@pytest.fixture
async def routed(migrated, db):
    """A client whose settings carry the routing rules."""
    async with Client(migrated.evolve(routes=ROUTES), database=db) as c:
        yield c


@pytest.fixture
def routed_qc(qc, monkeypatch):
    """``queueconsole`` with the rules in QUEUECONSOLE_ROUTES."""
    monkeypatch.setenv("QUEUECONSOLE_ROUTES", json.dumps(ROUTES))
    return qc


async def where(client, job_id):
    job = await client.job(job_id)
    return job.queue, job.priority.label


async def test_python_submit_takes_the_rule_for_what_it_leaves_out(routed):
    assert await where(routed, (await routed.submit("reports.daily")).id) == ("slow", "low")
    given_queue = await routed.submit("reports.daily", queue="mine")
    assert await where(routed, given_queue.id) == ("mine", "low")
    given_priority = await routed.submit("reports.daily", priority="critical")
    assert await where(routed, given_priority.id) == ("slow", "critical")
    given_both = await routed.submit("reports.daily", queue="mine", priority=Priority.HIGH)
    assert await where(routed, given_both.id) == ("mine", "high")
    assert await where(routed, (await routed.submit("mail.send")).id) == ("default", "high")
    assert await where(routed, (await routed.submit("other")).id) == ("default", "normal")
    # the keyed path (its own transaction, not group commit) routes the same way
    keyed = await routed.submit("reports.daily", idempotency_key="k")
    assert await where(routed, keyed.id) == ("slow", "low")


async def test_python_submit_many_and_submit_workflow_route_each_job(routed):
    many = await routed.submit_many(
        [JobSpec("reports.a"), JobSpec("mail.b", queue="m"), JobSpec("x.c", priority="low")]
    )
    assert [await where(routed, s.id) for s in many] == [
        ("slow", "low"),
        ("m", "high"),
        ("default", "low"),
    ]
    wf = await routed.submit_workflow(
        [
            JobSpec("reports.extract", ref="e"),
            JobSpec("mail.notify", ref="n", depends_on=["e"], priority="normal"),
        ]
    )
    assert await where(routed, wf.ids["e"]) == ("slow", "low")
    assert await where(routed, wf.ids["n"]) == ("default", "normal")


async def test_a_client_without_rules_keeps_default_and_normal(client):
    assert await where(client, (await client.submit("reports.daily")).id) == ("default", "normal")


def qc_json(run, *args):
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def cli_where(run, job_id):
    job = qc_json(run, "job", str(job_id))
    return job["queue"], job["priority"]


def test_cli_submit_routes_unless_queue_or_priority_is_given(routed_qc):
    plain = qc_json(routed_qc, "submit", "reports.daily")["id"]
    assert cli_where(routed_qc, plain) == ("slow", "low")
    queued = qc_json(routed_qc, "submit", "reports.daily", "--queue", "mine")["id"]
    assert cli_where(routed_qc, queued) == ("mine", "low")
    prioritised = qc_json(routed_qc, "submit", "reports.daily", "--priority", "high")["id"]
    assert cli_where(routed_qc, prioritised) == ("slow", "high")
    code, _, err = routed_qc("submit", "--file", "wf.json", "--queue", "q")
    assert code == 2 and "--queue apply to one job; a workflow file sets them per job" in err


def test_workflow_file_jobs_are_routed_unless_they_say(routed_qc, tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(
        json.dumps(
            {
                "jobs": [
                    {"ref": "r", "type": "reports.build"},
                    {"ref": "m", "type": "mail.send", "queue": "outbox", "depends_on": ["r"]},
                    {"ref": "p", "type": "reports.print", "priority": "critical"},
                ]
            }
        )
    )
    ids = qc_json(routed_qc, "submit", "--file", str(path))
    assert cli_where(routed_qc, ids["r"]) == ("slow", "low")
    assert cli_where(routed_qc, ids["m"]) == ("outbox", "high")
    assert cli_where(routed_qc, ids["p"]) == ("slow", "critical")


async def test_a_schedule_is_routed_when_added_and_fires_there(routed, db):
    """Resolved once, when added: every engine fires it to the same place whatever its
    own config says, and `schedule list` shows where its jobs go."""
    await routed.add_schedule("nightly", YEARLY, "reports.nightly")
    await routed.add_schedule("mine", YEARLY, "reports.mine", queue="own", priority="high")
    listed = {s.name: (s.queue, s.priority.label) for s in await routed.schedules()}
    assert listed == {"nightly": ("slow", "low"), "mine": ("own", "high")}

    year = await _db_year(db)
    for name in listed:
        await _make_due(db, name, _jan1(year))
    await ScheduleService(db.settings, db).tick()  # an engine with no rules of its own
    page = await routed.jobs(limit=10)
    fired = {j.type: (j.queue, j.priority.label) for j in page.items}
    assert fired == {"reports.nightly": ("slow", "low"), "reports.mine": ("own", "high")}


def test_cli_schedule_add_uses_the_rules(routed_qc):
    added = qc_json(routed_qc, "schedule", "add", "weekly", "reports.weekly", "--cron", "@weekly")
    assert (added["queue"], added["priority"]) == ("slow", "low")


def test_a_bad_rule_stops_every_command_with_one_line_naming_it(qc, monkeypatch):
    monkeypatch.setenv(
        "QUEUECONSOLE_ROUTES",
        '[{"type": "ok.*", "queue": "q"}, {"type": "reports.[", "queue": "s"}]',
    )
    for args in (["submit", "reports.daily"], ["routes"], ["status"], ["engine"]):
        code, out, err = qc(*args)
        assert code == 2 and out == "", args
        assert err.count("\n") == 1 and "Traceback" not in err
        assert 'QUEUECONSOLE_ROUTES: route #2 {"type": "reports.[", "queue": "s"}' in err
        assert "not closed" in err


def test_routes_prints_the_table_and_the_rule_a_type_matches(routed_qc):
    code, out, _ = routed_qc("routes", "reports.daily")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["#", "TYPE", "QUEUE", "PRIORITY", "SOURCE"]
    assert lines[1].split() == ["1", "reports.*", "slow", "low", "env", "QUEUECONSOLE_ROUTES"]
    assert lines[2].split()[:4] == ["2", "mail.*", "-", "high"]
    assert lines[-1] == "reports.daily: rule #1 (reports.*); queue slow, priority low"
    doc = qc_json(routed_qc, "routes", "mail.send")
    assert doc["source"] == "env" and doc["from"] == "QUEUECONSOLE_ROUTES"
    assert doc["routes"][1] == {"index": 2, "type": "mail.*", "queue": None, "priority": "high"}
    assert doc["match"] == {
        "type": "mail.send",
        "rule": 2,
        "pattern": "mail.*",
        "queue": "default",
        "priority": "high",
    }
    assert qc_json(routed_qc, "routes", "other")["match"]["rule"] is None
    code, _, err = routed_qc("routes", "bad type")
    assert code == 2 and "is not a job type name" in err


def test_config_shows_the_rules_and_where_they_came_from(routed_qc):
    doc = qc_json(routed_qc, "config")
    assert doc["settings"]["routes"] == {
        "value": [
            {"type": "reports.*", "queue": "slow", "priority": "low"},
            {"type": "mail.*", "queue": None, "priority": "high"},
        ],
        "source": "env",
        "from": "QUEUECONSOLE_ROUTES",
    }
    _, out, _ = routed_qc("config")
    [line] = [x for x in out.splitlines() if x.startswith("routes ")]
    assert "reports.* -> queue slow, priority low; mail.* -> priority high" in line
    assert line.rstrip().endswith("env QUEUECONSOLE_ROUTES")


def test_submit_backoff_flags_are_stored(qc):
    doc = qc_json(qc, "submit", "demo.noop", "--backoff", "2.5", "--backoff-max", "60")
    job = qc_json(qc, "job", str(doc["id"]))
    assert (job["backoff_s"], job["backoff_max_s"]) == (2.5, 60.0)
    default = qc_json(qc, "job", str(qc_json(qc, "submit", "demo.noop")["id"]))
    assert (default["backoff_s"], default["backoff_max_s"]) == (1.0, 300.0)
    zero = qc_json(qc, "submit", "demo.noop", "--backoff", "0")["id"]
    assert qc_json(qc, "job", str(zero))["backoff_s"] == 0.0
    code, out, _ = qc("job", str(doc["id"]))
    assert code == 0 and "backoff  2.5 s doubling, at most 60 s" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backoff", "-1"], "'-1' must be 0 or a positive number of seconds"),
        (["--backoff", "soon"], "'soon' is not a number of seconds"),
        (["--backoff-max", "inf"], "'inf' must be 0 or a positive number"),
        (["--backoff", "10", "--backoff-max", "5"], "--backoff 10 is longer than --backoff-max"),
        (["--backoff", "600"], "--backoff 600 is longer than the default 300 s"),
        (["--backoff", "700000", "--backoff-max", "800000"], "backoff must be at most"),
    ],
)
def test_bad_backoff_flags_exit_2_with_one_line_and_write_nothing(qc, args, message):
    code, out, err = qc("submit", "demo.noop", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
    assert qc_json(qc, "jobs") == []
