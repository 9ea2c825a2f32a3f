"""Helpers for the property-based tests: table counts and hostile text.

A refused submission must write nothing, so each example compares the row
counts of the tables a submission writes before and after it. Counting is
cheap here: a property test's database holds at most a few hundred rows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import text

from engine.broker.admin import delete_namespace
from engine.broker.names import Names
from engine.config import Settings
from engine.db.database import Database
from queueconsole.cli.main import main
from tests.support.runtime import isolated

WRITTEN_TABLES = ("jobs", "job_dependencies", "job_events", "workflows")
"""Every table a submission (or a refused one) could write to."""

_COUNTS = text("SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in WRITTEN_TABLES))


async def row_counts(db: Database) -> dict[str, int]:
    """Rows per written table right now."""
    async with db.connection() as conn:
        row = (await conn.execute(_COUNTS)).one()
    return {t: int(getattr(row, t)) for t in WRITTEN_TABLES}


DB_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Database-backed properties: few examples, no per-example deadline (shared CI cores);
the function-scoped fixtures are meant to be shared by every example."""

PURE_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
"""Pure properties (no service): more examples, still well under a second each."""

NASTY_STRINGS = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\\u0000",
    "\ud800",
    "x\udcff",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",
    "\x9b2J",
    "[bold]b[/bold]",
    "[link=http://e]l[/link]",
    "'; DROP TABLE jobs; --",
    "%",
    "_",
    "\\",
    "line\nbreak",
    "tab\there",
    "\u202eevil",
    "é",
    "💥",
    "default\n",
    "demo.noop\n",
)
"""Strings that broke (or could break) something once: NUL, lone surrogates, escapes,
markup, SQL, LIKE wildcards, a trailing newline after a valid name."""

nasty_text = st.one_of(
    st.sampled_from(NASTY_STRINGS),
    st.text(
        alphabet=st.one_of(
            st.characters(codec="utf-8"),
            st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
            st.sampled_from("\x00\x1b\x9b\n%_\\'[]"),
        ),
        max_size=30,
    ),
)
"""Short text of any kind, lone surrogates and control characters included."""


# -- the command, in-process ----------------------------------------------------

ERROR_LINE = re.compile(r"^queueconsole( [a-z]+)*: error: \S")
QUEUES = ("default", "q1")
"""The only valid queue names the command tests submit to, so their broker queues can be
removed afterwards."""


@pytest.fixture
async def cli_namespace(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, migrated: Settings
) -> AsyncIterator[Settings]:
    """QUEUECONSOLE_* for the in-process command, in a namespace removed afterwards."""
    ns_settings = isolated(migrated)
    for key, value in cli_env.items():
        if key.startswith("QUEUECONSOLE_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("QUEUECONSOLE_NAMESPACE", ns_settings.namespace)
    yield ns_settings
    await delete_namespace(ns_settings, Names(ns_settings.namespace), QUEUES)


async def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``queueconsole ARGV`` in-process (in a thread: the command runs its own event loop)."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str) -> None:
    """Exit status 2 and exactly one ``queueconsole[ COMMAND]: error:`` line: what a mistake
    gets (argparse names the subcommand in usage errors)."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), err
