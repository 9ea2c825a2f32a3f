"""``python -m bench.dead_letters`` runs and prints its three rows (a smoke run)."""

from __future__ import annotations

import pytest

from bench.dead_letters import run


async def test_the_sweep_benchmark_prints_its_rows(
    migrated: object, capsys: pytest.CaptureFixture[str]
) -> None:
    await run(200)
    out = capsys.readouterr().out.splitlines()
    rows = {line.split("  ")[0]: line.split() for line in out[2:]}
    assert set(rows) == {"sweep, 1 % stale", "sweep, nothing stale", "peer: purge + republish"}
    assert rows["sweep, 1 % stale"][-3:-1] == ["200", "2"]
    assert rows["sweep, nothing stale"][-3:-1] == ["198", "0"]
