"""Submission throughput: a 10,000-job workflow and 10,000 independent jobs.

Peer, in the same run and on the same server: a raw batched INSERT of the same
number of rows into a plain table (what PostgreSQL itself can take), so the
ratio says how much our validation, events and counts cost.

    python -m bench.submit [--jobs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from sqlalchemy import text

from bench.common import median, print_table, scratch_database
from engine.client import Client
from engine.db.database import Database
from engine.specs import JobSpec


def layered_workflow(n: int, width: int = 1000) -> list[JobSpec]:
    """n jobs in layers of ``width`` with exactly 2n edges: every job after the first
    layer waits for two jobs of the layer before, the first layer's spare edges go to
    the last layer (which then waits for four)."""
    specs: list[JobSpec] = []
    spare = 2 * min(width, n)
    for i in range(n):
        level, pos = divmod(i, width)
        deps = [f"{level - 1}-{pos}", f"{level - 1}-{(pos + 1) % width}"] if level else []
        if level and i >= n - spare // 2:
            deps += [f"{level - 1}-{(pos + 2) % width}", f"{level - 1}-{(pos + 3) % width}"]
        specs.append(JobSpec("demo.noop", ref=f"{level}-{pos}", depends_on=deps))
    return specs


async def raw_insert(db: Database, n: int) -> float:
    """Seconds for one batched INSERT of n rows with a JSONB column (the peer)."""
    async with db.transaction() as conn:
        await conn.execute(
            text(
                "CREATE TEMP TABLE raw_jobs (id bigint, type text, "
                "payload jsonb, state text) ON COMMIT DROP"
            )
        )
        started = time.perf_counter()
        await conn.execute(
            text(
                "INSERT INTO raw_jobs SELECT * FROM unnest(CAST(:ids AS bigint[]), "
                "CAST(:types AS text[]), CAST(:payloads AS jsonb[]), CAST(:states AS text[]))"
            ),
            {
                "ids": list(range(n)),
                "types": ["demo.noop"] * n,
                "payloads": [json.dumps({"i": i}) for i in range(n)],
                "states": ["queued"] * n,
            },
        )
    return time.perf_counter() - started


async def run(n: int, repeat: int) -> list[list[object]]:
    """Measure and return the table rows."""
    async with scratch_database("submit") as settings:
        db = Database(settings)
        client = Client(settings, database=db)
        wf, bulk, single, raw = [], [], [], []
        edges = sum(len(s.depends_on) for s in layered_workflow(n))
        for _ in range(repeat):
            specs = layered_workflow(n)
            t = time.perf_counter()
            await client.submit_workflow(specs)
            wf.append(time.perf_counter() - t)

            specs = [JobSpec("demo.noop", payload={"i": i}) for i in range(n)]
            t = time.perf_counter()
            await client.submit_many(specs)
            bulk.append(time.perf_counter() - t)

            few = max(1, n // 10)
            t = time.perf_counter()
            for i in range(few):
                await client.submit("demo.noop", {"i": i})
            single.append((time.perf_counter() - t) / few * n)

            raw.append(await raw_insert(db, n))
        await db.close()
    peer = median(raw)
    return [
        [
            f"workflow: {n:,} jobs, {edges:,} edges, one transaction",
            f"{median(wf):.3f}",
            f"{n / median(wf):,.0f}",
            f"{median(wf) / peer:.1f}x",
        ],
        [
            f"{n:,} independent jobs, one submit_many()",
            f"{median(bulk):.3f}",
            f"{n / median(bulk):,.0f}",
            f"{median(bulk) / peer:.1f}x",
        ],
        [
            f"{n // 10:,} independent jobs, one submit() each",
            "-",
            f"{n / median(single):,.0f}",
            f"{median(single) / peer:.1f}x",
        ],
        [f"peer: raw batched INSERT of {n:,} rows", f"{peer:.3f}", f"{n / peer:,.0f}", "1.0x"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = asyncio.run(run(args.jobs, args.repeat))
    print(f"\nsubmission, medians of {args.repeat} runs\n")
    print_table(["what", "seconds", "jobs/s", "cost vs peer"], rows)


if __name__ == "__main__":
    main()
