"""The doctor's checks against real servers: each finding named, with what to change.

Redis configurations come from private redis-server instances (the shared Redis
is never reconfigured); ``consumer_timeout`` is read from the session's private
RabbitMQ node with the real ``rabbitmqctl``.
"""

import os
import socket

import pytest

from engine.db.migrate import drop_database, ensure_database
from engine.doctor import Capacity, CheckStatus, diagnose
from engine.doctor.postgres import ENGINE_CONNECTIONS, WORKER_CONNECTIONS
from localservices import locate_binaries
from tests.support.private import SESSION_CONSUMER_TIMEOUT_MS, private_redis
from tests.support.services import free_port


def statuses(report):
    return {c.name: c.status for c in report.checks}


async def test_every_check_runs_and_passes_where_the_setup_is_right(migrated):
    with private_redis(maxmemory="16mb") as redis:  # allkeys-lru by default
        report = await diagnose(migrated.evolve(redis_url=redis.url))
    found = statuses(report)
    assert list(found) == [
        "postgresql",
        "postgresql.version",
        "postgresql.max_connections",
        "clock_skew",
        "migrations",
        "rabbitmq",
        "rabbitmq.management",
        "rabbitmq.consumer_timeout",
        "redis",
        "redis.maxmemory",
        "redis.maxmemory_policy",
    ]
    for name in ("postgresql", "migrations", "clock_skew", "rabbitmq", "redis"):
        assert found[name] == CheckStatus.OK, report.get(name)
    assert found["redis.maxmemory"] == found["redis.maxmemory_policy"] == CheckStatus.OK
    assert report.get("redis.maxmemory").summary == "maxmemory 16 MiB"
    assert all(c.advice is None for c in report.checks if c.status == CheckStatus.OK)


async def test_noeviction_and_no_cap_are_warnings_with_advice(migrated):
    with private_redis(policy="noeviction") as redis:
        report = await diagnose(migrated.evolve(redis_url=redis.url), quick=True)
    policy = report.get("redis.maxmemory_policy")
    assert policy.status == CheckStatus.WARN
    assert "noeviction" in policy.summary and "refuses every status write" in policy.summary
    assert "allkeys-lru" in policy.advice
    cap = report.get("redis.maxmemory")
    assert cap.status == CheckStatus.WARN and "maxmemory" in cap.advice
    assert report.exit_code >= 1


async def test_a_redis_that_refuses_config_is_unknown_not_ok(migrated):
    with private_redis("--rename-command", "CONFIG", "") as redis:
        report = await diagnose(migrated.evolve(redis_url=redis.url), quick=True)
    assert report.get("redis").status == CheckStatus.OK
    for name in ("redis.maxmemory", "redis.maxmemory_policy"):
        check = report.get(name)
        assert check.status == CheckStatus.WARN
        assert check.summary.startswith("unknown:"), check.summary


async def test_services_that_do_not_answer(migrated):
    port = free_port()
    broken = migrated.evolve(
        amqp_url=f"amqp://guest:guest@127.0.0.1:{port}/%2F",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    report = await diagnose(broken)
    assert report.get("rabbitmq").status == CheckStatus.FAIL
    assert f"127.0.0.1:{port}" in report.get("rabbitmq").summary
    # Redis is a cache: without it the engine works on PostgreSQL fallbacks.
    assert report.get("redis").status == CheckStatus.WARN
    # What needs a service that does not answer is left out, not guessed.
    assert report.get("rabbitmq.consumer_timeout") is None
    assert report.get("redis.maxmemory_policy") is None
    assert report.exit_code == 2


async def test_a_database_that_was_never_migrated_fails(migrated):
    fresh = migrated.evolve(database_url=migrated.database_url + "_doctor_unmigrated")
    await ensure_database(fresh)
    try:
        report = await diagnose(fresh, quick=False)
    finally:
        await drop_database(fresh)
    check = report.get("migrations")
    assert check.status == CheckStatus.FAIL
    assert check.summary == "the database was never migrated"
    assert check.advice == "run `queueconsole migrate`"


async def test_max_connections_against_the_planned_workers(migrated):
    small = await diagnose(migrated, Capacity(workers=0), quick=True)
    check = small.get("postgresql.max_connections")
    assert check.status == CheckStatus.OK
    assert f"may open {ENGINE_CONNECTIONS}" in check.summary
    huge = await diagnose(migrated, Capacity(engines=4, workers=100, queues=3), quick=True)
    check = huge.get("postgresql.max_connections")
    need = 4 * (ENGINE_CONNECTIONS + 100 * 3 * WORKER_CONNECTIONS)
    assert check.status == CheckStatus.FAIL
    assert f"may open {need}" in check.summary
    assert "raise max_connections to at least" in check.advice


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
async def test_consumer_timeout_is_read_from_the_node_behind_the_url(
    migrated, private_rabbitmq, monkeypatch
):
    settings = migrated.evolve(amqp_url=private_rabbitmq.url)
    # rabbitmqctl finds a node through RABBITMQ_NODENAME, the Erlang cookie in HOME and
    # epmd's port, as on any machine; these point it at the private node. The real
    # script goes first on PATH: Debian's /usr/sbin wrapper switches to the rabbitmq
    # account and its cookie, which is right for the machine's node only.
    for key, value in private_rabbitmq._env().items():
        monkeypatch.setenv(key, value)
    binaries = locate_binaries().rabbitmq
    assert binaries is not None
    monkeypatch.setenv("PATH", f"{binaries.sbindir}{os.pathsep}{os.environ['PATH']}")
    report = await diagnose(settings, Capacity(), quick=False)
    check = report.get("rabbitmq.consumer_timeout")
    assert check.status == CheckStatus.OK, check
    assert check.summary.startswith(f"consumer_timeout {SESSION_CONSUMER_TIMEOUT_MS} ms")
    private_rabbitmq.set_consumer_timeout(2000)
    try:
        short = (await diagnose(settings)).get("rabbitmq.consumer_timeout")
    finally:
        private_rabbitmq.set_consumer_timeout(SESSION_CONSUMER_TIMEOUT_MS)
    assert short.status == CheckStatus.WARN
    assert short.summary.startswith("consumer_timeout 2000 ms")
    assert "1800000" in short.advice
    if not _port_open(15672):  # nobody's management API on this host's default port
        management = report.get("rabbitmq.management")
        assert management.status == CheckStatus.WARN
        assert "rabbitmq-plugins enable rabbitmq_management" in management.advice


@pytest.mark.slow
async def test_consumer_timeout_of_another_node_is_never_reported_as_this_ones(
    migrated, private_rabbitmq, monkeypatch
):
    # Without the private node's environment rabbitmqctl reaches the machine's own node
    # (or none): either way not the node listening on the private port.
    for key in ("RABBITMQ_NODENAME", "ERL_EPMD_PORT"):
        monkeypatch.delenv(key, raising=False)
    report = await diagnose(migrated.evolve(amqp_url=private_rabbitmq.url))
    check = report.get("rabbitmq.consumer_timeout")
    assert check.status == CheckStatus.WARN
    assert check.summary.startswith("unknown:"), check.summary


async def test_consumer_timeout_of_a_remote_broker_is_unknown(migrated):
    # Nothing is contacted: the URL's host alone rules rabbitmqctl out.
    from engine.doctor.rabbitmq import check_consumer_timeout

    remote = migrated.evolve(amqp_url="amqp://guest:guest@broker.invalid:5672/%2F")
    check = await check_consumer_timeout(remote)
    assert check.status == CheckStatus.WARN
    assert check.summary == (
        "unknown: the broker runs on broker.invalid, and rabbitmqctl reads only this machine's"
    )
