"""Shared set-up for benchmarks: a throw-away database on the configured server."""

from __future__ import annotations

import os
import secrets
import statistics
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from engine.config import Settings, load_settings
from engine.db.migrate import drop_database, migrate


def bench_settings(tag: str) -> Settings:
    """Settings for a benchmark: its own database and namespace on the configured servers."""
    base = load_settings(os.environ.get("QUEUECONSOLE_CONFIG"))
    name = f"qcbench_{tag}_{os.getpid()}_{secrets.token_hex(2)}"
    return base.evolve(
        database_url=base.database_url.rsplit("/", 1)[0] + f"/{name}",
        namespace=name.replace("_", "-"),
    )


@asynccontextmanager
async def scratch_database(tag: str) -> AsyncIterator[Settings]:
    """A migrated database that is dropped afterwards."""
    settings = bench_settings(tag)
    await migrate(settings)
    try:
        yield settings
    finally:
        await drop_database(settings)


def median(values: Sequence[float]) -> float:
    """The median, for repetitions."""
    return statistics.median(values)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, left: int = 1) -> None:
    """A plain aligned table on stdout; the first ``left`` columns (text) align left, the
    rest (figures) right."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(
            "  ".join(
                c.rjust(w) if i >= left else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
