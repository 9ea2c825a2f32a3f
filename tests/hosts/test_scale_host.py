"""`scale --host NAME` changes the workers of one host only: engines on other hosts
neither act nor answer, and `status --json` shows the new count under that host.

Two engines in this process stand for two hosts (``host_name`` differs); the control
exchange is the same one real hosts share, so the targeting is what runs between
machines. The namespaced version of this (engines in network namespaces) is the bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator

import pytest

from engine.config import Settings
from engine.runtime.engine import Engine, EngineOptions
from tests.support.runtime import LIVENESS_S, isolated


@contextlib.asynccontextmanager
async def two_hosts(settings: Settings) -> AsyncIterator[tuple[Engine, Engine]]:
    """Engines on "alpha" and "beta", no local workers yet (nothing to wait for)."""
    alpha = Engine(settings.evolve(host_name="alpha"), EngineOptions(workers={}))
    beta = Engine(settings.evolve(host_name="beta"), EngineOptions(workers={}))
    try:
        await alpha.start()
        await beta.start()
        yield alpha, beta
    finally:
        await alpha.stop(grace_s=5)
        await beta.stop(grace_s=5)


async def cli(env: dict[str, str], settings: Settings, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "queueconsole",
        *args,
        env={**env, "QUEUECONSOLE_NAMESPACE": settings.namespace},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_scale_host_changes_only_that_hosts_workers(migrated, cli_env):
    settings = isolated(migrated)
    async with two_hosts(settings) as (alpha, beta):
        code, out, err = await cli(
            cli_env, settings, "scale", "1", "--queue", "mail", "--host", "beta", "--json"
        )
        assert code == 0, err
        doc = json.loads(out)
        assert doc["host"] == "beta"
        assert [(a["host"], a["ok"], a["workers"]) for a in doc["answers"]] == [("beta", True, 1)]
        assert beta.supervisor.targets == {"mail": 1}
        assert alpha.supervisor.targets == {}

        # The new worker registers under its host's name; status --json shows it there.
        async with asyncio.timeout(LIVENESS_S):
            while True:
                code, out, err = await cli(cli_env, settings, "status", "--json")
                assert code == 0, err
                hosts = json.loads(out)["hosts"]
                if hosts.get("beta") == {"mail": 1}:
                    break
                await asyncio.sleep(0.2)
        assert "alpha" not in hosts


async def test_scale_for_a_host_without_an_engine_exits_4_naming_it(migrated, cli_env):
    settings = isolated(migrated)
    async with two_hosts(settings) as (alpha, beta):
        code, _out, err = await cli(
            cli_env, settings, "scale", "2", "--host", "gamma", "--wait", "0.5"
        )
        assert code == 4
        assert "no engine on host 'gamma' answered" in err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert alpha.supervisor.targets == {} and beta.supervisor.targets == {}


@pytest.mark.parametrize("bad", ["two words", "-dash", "x" * 64, "a:b"])
async def test_a_bad_host_name_is_one_line_naming_it(migrated, cli_env, bad):
    code, _out, err = await cli(cli_env, migrated, "scale", "1", f"--host={bad}")
    assert code != 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--host" in err and "not a usable host name" in err


async def test_a_bad_engine_host_name_is_refused_before_anything_starts(migrated, cli_env):
    settings = isolated(migrated)
    code, _out, err = await cli(cli_env, settings, "engine", "--host-name", "bad name")
    assert code != 0
    assert "host_name 'bad name' is not a usable host name" in err
    assert "Traceback" not in err
