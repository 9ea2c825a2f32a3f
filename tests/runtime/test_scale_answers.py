"""A refused `scale` tells the person who asked: engines answer scale requests over the
control exchange, `queueconsole scale` waits for the answers (bounded by --wait) and
exits 1 with the reason on a refusal, 4 when no engine answered; --json lists them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from engine.broker.control import ControlBus
from engine.runtime.engine import Engine, EngineOptions
from engine.runtime.scaling import request_scale
from tests.support.runtime import isolated

BUDGET = {"memory_budget_mb": 300, "worker_max_memory_mb": 256}  # room for one worker


@contextlib.asynccontextmanager
async def engines(settings, *options):
    """Engines without local workers (nothing to start), each with its own options."""
    started = [Engine(settings, EngineOptions(workers={}, **o)) for o in options]
    try:
        for engine in started:
            await engine.start()
        yield started
    finally:
        for engine in started:
            await engine.stop()


async def scale_cli(cli_env, settings, *args):
    env = {**cli_env, "QUEUECONSOLE_NAMESPACE": settings.namespace}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "queueconsole",
        "scale",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_a_scale_over_the_budget_exits_1_naming_the_reason(migrated, cli_env):
    settings = isolated(migrated)
    async with engines(settings, BUDGET) as [engine]:
        code, out, err = await scale_cli(cli_env, settings, "2", "--queue", "mail")
        assert code == 1
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "scaling queue 'mail' to 2 refused by 1 of 1 engine" in err
        assert "2 workers x 256 MiB = 512 MiB exceeds the memory budget of 300 MiB" in err
        assert f"engine {engine.supervisor.id}: refused:" in out
        assert engine.supervisor.targets.get("mail", 0) == 0  # nothing changed

        code, out, _ = await scale_cli(cli_env, settings, "3", "--queue", "mail", "--json")
        assert code == 1
        doc = json.loads(out)
        assert (doc["queue"], doc["workers"], doc["refused"], doc["answered"]) == (
            "mail",
            3,
            1,
            True,
        )
        [answer] = doc["answers"]
        assert answer["engine"] == engine.supervisor.id and answer["ok"] is False
        assert "exceeds the memory budget of 300 MiB" in answer["reason"]
        assert answer["workers"] == 0


async def test_an_accepted_scale_exits_0_and_says_who_accepted(migrated, cli_env):
    settings = isolated(migrated)
    async with engines(settings, BUDGET) as [engine]:
        code, out, err = await scale_cli(cli_env, settings, "0", "--queue", "mail")
        assert code == 0, err
        assert f"engine {engine.supervisor.id}: accepted (queue 'mail' at 0 workers)" in out
        assert "queue 'mail': 0 workers on 1 engine" in out


async def test_no_engine_listening_exits_4_after_the_wait(migrated, cli_env):
    settings = isolated(migrated)  # a namespace no engine runs in
    code, out, err = await scale_cli(cli_env, settings, "2", "--wait", "0.5", "--json")
    assert code == 4
    assert json.loads(out) == {
        "queue": "default",
        "host": None,
        "workers": 2,
        "answers": [],
        "refused": 0,
        "answered": False,
    }
    assert "no engine answered within 0.5 s" in err and err.count("\n") == 1


async def test_with_several_engines_one_refusal_is_reported_beside_the_acceptance(migrated):
    settings = isolated(migrated)
    async with engines(settings, BUDGET, {}) as [tight, roomy]:
        bus = ControlBus(settings, name="test-scale")
        try:
            outcome = await request_scale(bus, "mail", 0, wait_s=10)
            assert sorted(a.ok for a in outcome.answers) == [True, True]
            outcome = await request_scale(bus, "mail", 2, wait_s=10)
        finally:
            await bus.close()
        assert sorted(a.ok for a in outcome.answers) == [False, True]
        [refusal] = outcome.refusals
        assert "exceeds the memory budget" in refusal.reason
        assert roomy.supervisor.targets["mail"] == 2 and "mail" not in tight.supervisor.targets
        await roomy.scale("mail", 0)  # back down before the engines drain


async def test_bad_scale_arguments_exit_2(migrated, cli_env):
    settings = isolated(migrated)
    for args, message in (
        (["2", "--wait", "0"], "must be a positive number of seconds"),
        (["2", "--wait", "601"], "give at most 600 seconds"),
        (["65"], "give 0 to 64"),
    ):
        code, _, err = await scale_cli(cli_env, settings, *args)
        assert code == 2 and message in err, (args, err)
