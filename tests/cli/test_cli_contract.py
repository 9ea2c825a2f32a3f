"""The command line is a contract: flags, exit codes and ``--json`` fields.

Most calls go through ``main()`` in-process (same code path, no interpreter
start-up); the ones about what a person sees on a failure run the installed
``queueconsole`` command in a subprocess.
"""

import json
import re
import subprocess
import sys

import pytest

ISO_WITH_TZ = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")
STATES = {"pending", "queued", "running", "retrying", "completed", "failed", "blocked", "cancelled"}


def qc_json(qc, *args):
    code, out, err = qc(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_submit_json_contract(qc):
    doc = qc_json(
        qc,
        "submit",
        "demo.noop",
        "--payload",
        '{"n": 1}',
        "--queue",
        "q",
        "--priority",
        "critical",
        "--max-retries",
        "5",
        "--timeout",
        "2.5",
    )
    assert set(doc) == {"id", "state", "duplicate"}
    assert doc["state"] == "queued" and doc["duplicate"] is False
    job = qc_json(qc, "job", str(doc["id"]))
    assert (job["queue"], job["priority"], job["max_retries"], job["payload"]) == (
        "q",
        "critical",
        5,
        {"n": 1},
    )


def test_idempotency_key_from_the_command_line(qc):
    first = qc_json(qc, "submit", "demo.noop", "--key", "k1")
    second = qc_json(qc, "submit", "demo.noop", "--key", "k1")
    assert second == {"id": first["id"], "state": "queued", "duplicate": True}


def test_job_json_contract(qc):
    a = qc_json(qc, "submit", "demo.noop")["id"]
    b = qc_json(qc, "submit", "demo.noop", "--depends-on", str(a))["id"]
    job = qc_json(qc, "job", str(b))
    for key in (
        "id",
        "type",
        "queue",
        "priority",
        "state",
        "attempts",
        "max_retries",
        "payload",
        "depends_on",
        "dependents",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "events",
    ):
        assert key in job, key
    assert job["depends_on"] == [a] and job["state"] == "pending"
    assert qc_json(qc, "job", str(a))["dependents"] == [b]
    assert ISO_WITH_TZ.match(job["created_at"])
    event = job["events"][0]
    assert set(event) >= {"from", "to", "at", "reason"}
    assert event["from"] is None and event["to"] in STATES and ISO_WITH_TZ.match(event["at"])


def test_workflow_file_prints_ref_to_id(qc, tmp_path):
    wf = tmp_path / "wf.json"
    wf.write_text(
        json.dumps(
            {
                "jobs": [
                    {"ref": "extract", "type": "demo.noop"},
                    {
                        "ref": "load",
                        "type": "demo.sleep",
                        "payload": {"seconds": 0.1},
                        "depends_on": ["extract"],
                        "priority": "high",
                    },
                ]
            }
        )
    )
    ids = qc_json(qc, "submit", "--file", str(wf))
    assert set(ids) == {"extract", "load"} and all(isinstance(v, int) for v in ids.values())
    assert qc_json(qc, "job", str(ids["load"]))["depends_on"] == [ids["extract"]]


def test_jobs_filters_and_limit(qc):
    for queue in ("a", "a", "b"):
        qc_json(qc, "submit", "demo.noop", "--queue", queue)
    listed = qc_json(qc, "jobs", "--queue", "a")
    assert [j["queue"] for j in listed] == ["a", "a"]
    assert listed[0]["id"] > listed[1]["id"]  # newest first
    assert len(qc_json(qc, "jobs", "--limit", "1")) == 1
    assert qc_json(qc, "jobs", "--state", "failed") == []
    assert qc_json(qc, "jobs", "--type", "demo.noop", "--state", "queued")[0]["state"] == "queued"


def test_cancel_and_retry_change_state(qc):
    a = qc_json(qc, "submit", "demo.noop")["id"]
    b = qc_json(qc, "submit", "demo.noop", "--depends-on", str(a))["id"]
    code, out, _ = qc("cancel", str(a))
    assert (
        code == 0
        and f"job {a}: queued -> cancelled" in out
        and f"job {b}: pending -> blocked" in out
    )
    assert qc_json(qc, "job", str(b))["state"] == "blocked"
    doc = qc_json(qc, "retry", str(a))
    assert (doc["state"], doc["affected"]) == (
        "queued",
        [{"id": b, "from": "blocked", "to": "pending"}],
    )


def test_status_counts_per_queue_and_state(qc):
    qc_json(qc, "submit", "demo.noop", "--queue", "x")
    qc_json(qc, "submit", "demo.noop", "--queue", "x")
    a = qc_json(qc, "submit", "demo.noop", "--queue", "y")["id"]
    qc("cancel", str(a))
    queues = qc_json(qc, "status")["queues"]
    assert queues["x"]["counts"]["queued"] == 2
    assert queues["y"]["counts"] | {} == {s: (1 if s == "cancelled" else 0) for s in STATES}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["submit", "demo.noop", "--payload", "{nope"], "--payload is not valid JSON"),
        (["submit", "demo.noop", "--payload", "[1]"], "--payload must be a JSON object"),
        (["submit", "demo.noop", "--priority", "urgent"], "unknown priority 'urgent'"),
        (["submit", "demo.noop", "--depends-on", "424242"], "job 424242, which does not exist"),
        (["submit", "demo.noop", "--depends-on", "x1"], "'x1' is not a job id"),
        (["submit", "demo.noop", "--max-retries", "-1"], "'-1' must not be negative"),
        (["submit", "demo.noop", "--timeout", "-5"], "must be a positive number of seconds"),
        (["submit", ""], "type is empty"),
        (["submit"], "say what to submit"),
        (["submit", "--file", "/nonexistent/wf.json"], "does not exist"),
        (["job", "999999"], "job 999999 does not exist"),
        (["cancel", "0"], "'0' is not a job id"),
        (["jobs", "--state", "sleeping"], "unknown state 'sleeping'"),
        (["jobs", "--limit", "0"], "limit must be between 1 and 1000"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(qc, args, message):
    code, _, err = qc(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_bad_workflow_file_writes_nothing(qc, tmp_path):
    wf = tmp_path / "wf.json"
    wf.write_text(
        json.dumps(
            {
                "jobs": [
                    {"ref": "a", "type": "demo.noop", "depends_on": ["b"]},
                    {"ref": "b", "type": "demo.noop", "depends_on": ["a"]},
                ]
            }
        )
    )
    code, _, err = qc("submit", "--file", str(wf))
    assert code == 2 and "dependency cycle: " in err
    assert qc_json(qc, "jobs") == []


def run_installed(args, env):
    return subprocess.run(
        [sys.executable, "-m", "queueconsole", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_service_down_is_named_with_the_password_masked(cli_env):
    env = dict(cli_env, QUEUECONSOLE_DATABASE_URL="postgresql://admin:hunter2@127.0.0.1:1/x")
    result = run_installed(["status"], env)
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "queueconsole: error: PostgreSQL is unavailable at "
        "postgresql://admin:***@127.0.0.1:1/x: [Errno 111] Connect call failed ('127.0.0.1', 1)"
    )
    assert "hunter2" not in result.stdout + result.stderr


def test_migrate_twice_is_harmless_and_shows_no_password(cli_env, migrated):
    first = run_installed(["migrate"], cli_env)
    assert first.returncode == 0, first.stderr
    assert "already at" in first.stdout


def test_the_installed_command_reports_mistakes_without_a_traceback(cli_env):
    result = run_installed(["submit", "demo.noop", "--payload", "{"], cli_env)
    assert result.returncode == 2
    assert result.stderr.startswith("queueconsole: error: --payload is not valid JSON")
    assert "Traceback" not in result.stderr
