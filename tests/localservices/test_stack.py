"""LocalStack: servers started together, swapped into settings, never outliving their owner."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from engine.config import Settings
from localservices import LocalServiceError, LocalStack
from tests.support import private
from tests.support.private import local_stack, require, state_dir, survivors

OWNER = """
import json, sys, time
from localservices import LocalStack
stack = LocalStack(sys.argv[1], rabbitmq=False, fsync=False).start()
print(json.dumps(stack.postgres.pids() + stack.redis.pids()), flush=True)
time.sleep(600)
"""
"""A process that starts a stack and then waits to be signalled."""


@contextmanager
def owner_of_a_stack(
    directory: Path,
) -> Iterator[tuple[subprocess.Popen[str], list[psutil.Process]]]:
    """Run OWNER; yield it and the processes of the servers it started. Killed afterwards."""
    with subprocess.Popen(
        [sys.executable, "-c", OWNER, str(directory)], stdout=subprocess.PIPE, text=True
    ) as owner:
        try:
            assert owner.stdout is not None
            line = owner.stdout.readline()
            if not line:
                owner.wait()
                pytest.fail(f"the owner exited with status {owner.returncode} before its stack ran")
            yield owner, [psutil.Process(pid) for pid in json.loads(line)]
        finally:
            if owner.poll() is None:
                owner.kill()
                owner.wait()


async def test_settings_point_at_the_private_servers():
    base = Settings(
        database_url="postgresql://app:secret@db.example:5432/queueconsole?sslmode=require",
        redis_url="redis://cache.example:6379/3",
    )
    with local_stack() as stack:
        assert stack.postgres is not None and stack.redis is not None and stack.rabbitmq is None
        settings = stack.settings(base)
        assert settings.database_url == stack.postgres.url_for("queueconsole")
        assert settings.redis_url == f"redis://127.0.0.1:{stack.redis.port}/3"
        assert settings.amqp_url == base.amqp_url  # not requested: left alone
        assert settings.namespace == base.namespace
        conn = await asyncpg.connect(stack.postgres.url)
        try:
            await conn.execute("CREATE DATABASE queueconsole")
        finally:
            await conn.close()
        conn = await asyncpg.connect(settings.database_url)
        try:
            assert await conn.fetchval("SELECT current_database()") == "queueconsole"
        finally:
            await conn.close()
        client = redis.Redis.from_url(settings.redis_url)
        try:
            assert client.ping()
        finally:
            client.close()
        assert len(stack.describe()) == 2


def test_close_stops_everything_and_is_idempotent():
    with local_stack() as stack:
        processes = [p for s in stack.servers for p in map(psutil.Process, s.pids())]
        assert len(processes) >= 2
        stack.close()
        assert survivors(processes) == []
        stack.close()


def test_sigterm_of_the_owner_stops_its_servers():
    require("postgres", "redis")
    with state_dir() as d, owner_of_a_stack(d) as (owner, processes):
        assert survivors(processes) == processes
        owner.send_signal(signal.SIGTERM)
        assert owner.wait(timeout=120) == -signal.SIGTERM  # it still dies of the signal
        assert survivors(processes) == []


def test_a_crashed_owners_servers_are_cleaned_up_by_the_next_start():
    require("postgres", "redis")
    with state_dir() as d:
        with owner_of_a_stack(d) as (owner, orphans):
            # While the owner lives, its directory is not ours to take.
            in_use = f"in use by another running process \\(pid {owner.pid}\\)"
            with pytest.raises(LocalServiceError, match=in_use):
                LocalStack(d, rabbitmq=False, fsync=False).start()
            owner.kill()  # SIGKILL: no handler runs, the servers are orphaned
            owner.wait()
        assert survivors(orphans) == orphans

        with LocalStack(d, rabbitmq=False, fsync=False) as stack:
            assert survivors(orphans) == []
            assert stack.postgres is not None and stack.postgres.is_running
            assert stack.redis is not None and stack.redis.is_running


def test_the_test_helpers_sweep_away_what_a_killed_test_run_left(monkeypatch):
    require("postgres", "redis")
    with state_dir("qc-stack-") as d:
        with owner_of_a_stack(d) as (owner, orphans):
            owner.kill()  # as CI does to a job that ran out of time
            owner.wait()
        assert survivors(orphans) == orphans
        monkeypatch.setattr(private, "_swept", False)
        private.sweep_crashed_runs()
        assert survivors(orphans) == []
        assert not d.exists()
