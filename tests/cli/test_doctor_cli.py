"""``queueconsole doctor`` for scripts (exit 0/1/2, JSON) and its one line in ``status``.

The Redis behind each test is a private redis-server configured as the test needs;
the shared one is never reconfigured.
"""

import json

from tests.support.private import private_redis
from tests.support.services import free_port

CHECK_FIELDS = {"name", "status", "summary", "advice"}


def test_warnings_exit_1_and_say_what_to_change(qc, monkeypatch):
    with private_redis(policy="noeviction") as redis:
        monkeypatch.setenv("QUEUECONSOLE_REDIS_URL", redis.url)
        code, out, err = qc("doctor", "--json")
        text_code, text, _ = qc("doctor")
    doc = json.loads(out)
    by_name = {c["name"]: c for c in doc["checks"]}
    assert all(set(c) == CHECK_FIELDS for c in doc["checks"])
    policy = by_name["redis.maxmemory_policy"]
    assert policy["status"] == "warn" and "allkeys-lru" in policy["advice"]
    failing = [c["name"] for c in doc["checks"] if c["status"] == "fail"]
    assert failing == [], err
    assert doc["status"] == "warn" and code == 1
    assert text_code == 1
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if "redis.maxmemory_policy" in line)
    assert lines[row].startswith("WARN  redis.maxmemory_policy")
    assert lines[row + 1].strip().startswith("→ set `maxmemory-policy allkeys-lru`")


def test_a_service_down_is_a_failure_exit_2_not_3(qc, monkeypatch):
    port = free_port()
    monkeypatch.setenv("QUEUECONSOLE_AMQP_URL", f"amqp://guest:secret@127.0.0.1:{port}/%2F")
    code, out, err = qc("doctor")
    assert code == 2, err
    line = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert line.split()[:2] == ["FAIL", "rabbitmq"]
    assert f"amqp://guest:***@127.0.0.1:{port}/%2F" in line
    assert "secret" not in out


def test_all_ok_exits_0(qc, monkeypatch):
    with private_redis(maxmemory="32mb") as redis:
        monkeypatch.setenv("QUEUECONSOLE_REDIS_URL", redis.url)
        code, out, _ = qc("doctor", "--json")
    doc = json.loads(out)
    # The shared broker's management plugin and consumer_timeout are the machine's
    # business; every other check here is ours to get right.
    theirs = {"rabbitmq.management", "rabbitmq.consumer_timeout"}
    problems = [c for c in doc["checks"] if c["status"] != "ok" and c["name"] not in theirs]
    assert problems == []
    assert code == {"ok": 0, "warn": 1}[doc["status"]]


def test_status_shows_the_warnings_in_one_line(qc, monkeypatch):
    with private_redis(policy="noeviction") as redis:
        monkeypatch.setenv("QUEUECONSOLE_REDIS_URL", redis.url)
        code, out, err = qc("status")
        json_code, json_out, _ = qc("status", "--json")
    assert code == 0 == json_code, err
    lines = [line for line in out.splitlines() if line.startswith("doctor:")]
    assert len(lines) == 1
    assert "redis.maxmemory_policy" in lines[0] and "redis.maxmemory," in lines[0]
    assert lines[0].endswith("`queueconsole doctor` says what to change")
    doctor = json.loads(json_out)["doctor"]
    names = {p["name"] for p in doctor["problems"]}
    assert {"redis.maxmemory", "redis.maxmemory_policy"} <= names
    assert doctor["status"] == "warn"
    # Whether a service answers is the services lines' business, and rabbitmqctl is
    # too slow for status: neither appears.
    assert not names & {"postgresql", "rabbitmq", "redis", "rabbitmq.consumer_timeout"}


def test_status_has_no_doctor_line_when_nothing_is_wrong(qc, monkeypatch):
    with private_redis(maxmemory="32mb") as redis:
        monkeypatch.setenv("QUEUECONSOLE_REDIS_URL", redis.url)
        code, out, _ = qc("status", "--json")
    doctor = json.loads(out)["doctor"]
    theirs = {"rabbitmq.management"}
    assert [p for p in doctor["problems"] if p["name"] not in theirs] == []
    assert code == 0
