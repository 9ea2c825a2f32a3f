"""The engine runs headless: importing it must not pull in the console or Textual.

The three packages of the distribution are layered: ``engine`` imports neither of the
others; ``localservices`` (private servers for the demo and the tests) may import the
engine's settings and errors but never the console.
"""

import subprocess
import sys

ENGINE_MODULES = [
    "engine",
    "engine.client",
    "engine.config",
    "engine.states",
    "engine.specs",
    "engine.store.submission",
    "engine.store.transitions",
    "engine.readapi.jobs",
    "engine.db.migrate",
]


def test_engine_imports_neither_textual_nor_queueconsole():
    code = (
        "import importlib, pkgutil, sys\n"
        "import engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        f"for name in {ENGINE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(\n"
        "    m for m in sys.modules\n"
        "    if m.split('.')[0] in ('textual', 'queueconsole', 'localservices')\n"
        ")\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported: {out.stdout.strip()}"


def test_localservices_imports_neither_textual_nor_queueconsole():
    code = (
        "import importlib, pkgutil, sys\n"
        "import localservices\n"
        "for m in pkgutil.walk_packages(localservices.__path__, 'localservices.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'queueconsole'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"localservices imported: {out.stdout.strip()}"


def test_engine_source_never_names_the_console():
    from pathlib import Path

    import engine

    root = Path(engine.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        for line in p.read_text().splitlines()
        if line.lstrip().startswith(
            ("import textual", "from textual", "import queueconsole", "from queueconsole")
        )
    ]
    assert offenders == []


def test_a_worker_process_never_loads_sqlalchemy(cli_env: dict[str, str]) -> None:
    """A worker talks to PostgreSQL through asyncpg's pool (engine.db.driver) and its
    statements are engine.db.sql.Sql: SQLAlchemy's core alone would cost every worker
    15-20 MiB, its asyncio extension's ORM ~8 MiB more."""
    code = (
        "import asyncio, sys\n"
        "from engine.config import load_settings\n"
        "from engine.store import workers as store\n"
        "from engine.worker.process import Worker, WorkerOptions\n"
        "async def main():\n"
        "    worker = Worker(load_settings(), WorkerOptions(worker_id='hygiene-probe'))\n"
        "    await worker._register()\n"
        "    await worker._db.run(lambda conn: store.stop_worker(conn, worker.id))\n"
        "    await worker._db.close()\n"
        "asyncio.run(main())\n"
        "loaded = {m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'}\n"
        "print(','.join(sorted(loaded)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env, check=True
    )
    assert out.stdout.strip() == "", f"a worker loaded: {out.stdout.strip()}"


def test_a_headless_engine_never_loads_sqlalchemy(cli_env: dict[str, str]) -> None:
    """The engine's services run on asyncpg's pool too; its SQLAlchemy engine, kept for
    the console's reads, is made (and SQLAlchemy imported) at first use, so a headless
    supervisor never pays for it. Every service ticks at least once before the check."""
    code = (
        "import asyncio, sys\n"
        "from engine.config import load_settings\n"
        "from engine.runtime.engine import Engine, EngineOptions\n"
        "async def main():\n"
        "    engine = Engine(load_settings(), EngineOptions(workers={}))\n"
        "    await engine.start()\n"
        "    for _ in range(500):  # at most 10 s\n"
        "        if all(s.ticks for s in engine.services):\n"
        "            break\n"
        "        await asyncio.sleep(0.02)\n"
        "    await engine.stop()\n"
        "    return all(s.ticks for s in engine.services)\n"
        "ticked = asyncio.run(main())\n"
        "loaded = {m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'}\n"
        "print(ticked, ','.join(sorted(loaded)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env, check=True
    )
    assert out.stdout.strip() == "True", f"ticked, loaded: {out.stdout.strip()}; {out.stderr}"
