"""Property: any command line gets a result or one readable error line, never a traceback.

Random argv for the job and queue commands, built from what each option
expects and from hostile tokens (escapes, markup, SQL, lone surrogates — what
undecodable bytes in argv become — numbers beyond every range). Exit status
is 0 or 2; a 2 comes with exactly one ``queueconsole: error:`` line and no
rows written; nothing printed carries a raw terminal escape. A few runs go
through a real process with raw bytes in argv, as a shell would pass them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties.conftest import (
    DB_SETTINGS,
    NASTY_STRINGS,
    QUEUES,
    assert_one_line_error,
    row_counts,
    run_cli,
)

RAW_ESCAPES = ("\x1b", "\x9b", "\x07", "\x08", "\r")
"""Characters that, printed raw, move the cursor, ring, recolour or rewrite the terminal."""

hostile = st.one_of(
    st.sampled_from([s for s in NASTY_STRINGS if "\x00" not in s]),  # argv cannot hold NUL
    st.sampled_from(["-1", "0", "1", "2", "9" * 25, "1e400", "nan", "inf", "none", "--", "-"]),
    st.text(max_size=8).filter(lambda t: "\x00" not in t),
)


def opt(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.tuples(st.just(name), st.one_of(values, hostile)).map(list)


ids = st.one_of(st.sampled_from(["1", "2", "3", "999999"]), hostile)
queues = st.one_of(st.sampled_from(QUEUES), hostile)
payloads = st.sampled_from(['{"a": 1}', "{}", "[1]", "{", '{"a": "\\u0000"}', '{"a": NaN}'])
states = st.sampled_from(["queued", "failed", "FAILED", "sleeping"])


def command(name: list[str], *options: st.SearchStrategy[list[str]]) -> st.SearchStrategy:
    """``name`` then some of ``options`` (each at most once), in any order, maybe --json."""
    return st.tuples(
        st.just(name),
        st.lists(st.sampled_from(options).flatmap(lambda o: o), max_size=len(options)),
        st.lists(st.sampled_from(["--json"]), max_size=1),
        st.lists(hostile, max_size=1),
    ).map(lambda parts: [*parts[0], *(t for o in parts[1] for t in o), *parts[2], *parts[3]])


argvs = st.one_of(
    command(
        ["submit", "demo.noop"],
        opt("--payload", payloads),
        opt("--queue", queues),
        opt("--priority", st.sampled_from(["high", "low", "urgent"])),
        opt("--depends-on", ids),
        opt("--key", st.sampled_from(["k1", "k2"])),
        opt("--max-retries", st.sampled_from(["0", "3", "1001"])),
        opt("--timeout", st.sampled_from(["1", "0.5", "604801"])),
        opt("--memory-mb", st.sampled_from(["64", "0"])),
        opt("--ttl", st.sampled_from(["30"])),
    ),
    st.tuples(st.just("submit"), hostile).map(list),
    st.tuples(st.sampled_from(["job", "cancel", "retry"]), ids).map(list),
    command(
        ["jobs"],
        opt("--state", states),
        opt("--queue", queues),
        opt("--type", st.sampled_from(["demo.noop", "t_%"])),
        opt("--text", st.sampled_from(["%", "_", "demo"])),
        opt("--limit", st.sampled_from(["1", "1000", "1001", "0"])),
        opt("--before", ids),
    ),
    st.tuples(st.sampled_from(["pause", "resume"]), queues).map(list),
    st.tuples(st.just("limit"), queues, st.one_of(st.sampled_from(["5", "none"]), hostile)).map(
        list
    ),
    st.just(["queues"]),
    command(
        ["schedule", "add", "nightly", "demo.noop"],
        opt("--cron", st.sampled_from(["*/5 * * * *", "@daily", "61 * * * *"])),
        opt("--tz", st.sampled_from(["UTC", "Europe/Paris", "../../etc/passwd"])),
        opt("--queue", queues),
        opt("--payload", payloads),
    ),
    st.tuples(
        st.just("schedule"),
        st.sampled_from(["remove", "pause", "resume"]),
        st.one_of(st.just("nightly"), hostile),
    ).map(list),
    st.just(["schedule", "list"]),
    st.lists(hostile, min_size=1, max_size=3),
)

READS = {"job", "jobs", "queues"}


@DB_SETTINGS
@given(argv=argvs)
async def test_any_command_line_succeeds_or_says_what_is_wrong_in_one_line(
    cli_namespace, db, capsys, argv
):
    if "--cron" not in argv and argv[:2] == ["schedule", "add"]:
        argv = [*argv, "--cron", "@daily"]
    before = await row_counts(db)
    code, out, err = await run_cli(capsys, *argv)
    after = await row_counts(db)
    if code == 0:
        assert "Traceback" not in err
        if "--json" in argv and out.strip() and "--help" not in argv and "-h" not in argv:
            json.loads(out)
    else:
        assert_one_line_error(code, err)
        assert after == before, f"{argv} failed ({err.strip()}) but wrote rows"
    if argv[0] in READS:
        assert after == before
    for ch in RAW_ESCAPES:
        assert ch not in out, f"raw {ch!r} on stdout for {argv}"
        assert ch not in err, f"raw {ch!r} on stderr for {argv}"


def run_process(args: list[bytes], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable.encode(), b"-m", b"queueconsole", *args],
        env=env,
        capture_output=True,
        timeout=60,
    )


async def test_undecodable_bytes_in_argv_are_one_line_errors_or_no_match(cli_namespace, db):
    """A shell passes bytes; Python turns the undecodable ones into lone surrogates, which
    no database driver accepts. Each of these used to end in a traceback. (A few real
    processes: each costs an interpreter start on a shared CI core.)"""
    env = dict(os.environ)  # the fixture set QUEUECONSOLE_* for this run's namespace
    cases: list[tuple[list[bytes], int]] = [
        ([b"jobs", b"--text", b"\xff"], 0),
        ([b"submit", b"demo.noop", b"--key", b"\xff\xfe"], 2),
        ([b"schedule", b"remove", b"\xff"], 2),
    ]
    before = await row_counts(db)
    for args, expected in cases:
        done = run_process(args, env)
        stderr = done.stderr.decode("utf-8", "replace")
        assert done.returncode == expected, (args, stderr)
        assert b"Traceback" not in done.stderr, (args, stderr)
        if expected == 2:
            assert len(stderr.strip().splitlines()) == 1, (args, stderr)
        assert b"\x1b" not in done.stdout + done.stderr
    assert await row_counts(db) == before


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["jobs", "--queue", os.fsdecode(b"caf\xe9"), "--json"], 0),
        (["jobs", "--type", os.fsdecode(b"\xff"), "--text", "\x1b[31m"], 0),
        (["submit", "demo.noop\n"], 2),
        (["submit", "demo.noop", "--queue", "default\n"], 2),
        (["pause", os.fsdecode(b"\xff")], 2),
        (["schedule", "pause", os.fsdecode(b"\xff")], 2),
        (["schedule", "add", os.fsdecode(b"n\xff"), "demo.noop", "--cron", "@daily"], 2),
        (["submit", "--file", "FILE"], 2),
        (["submit", "demo.noop", "--payload", "[" * 50_000], 2),
        (["submit", "demo.noop", "--payload", '{"n": ' + "9" * 5000 + "}"], 2),
        (["schedule", "add", "s", "demo.noop", "--cron", "@daily", "--payload", "[" * 50_000], 2),
    ],
    ids=lambda v: repr(v)[:60],
)
async def test_arguments_that_once_broke_the_command(
    cli_namespace, db, capsys, tmp_path, argv, expected
):
    bad_file = tmp_path / "bad.json"
    bad_file.write_bytes(b'{"jobs": [{"type": "demo.noop", "key": "\\udcff"}]}')
    argv = [str(bad_file) if a == "FILE" else a for a in argv]
    before = await row_counts(db)
    code, out, err = await run_cli(capsys, *argv)
    if expected == 2:
        assert_one_line_error(code, err)
    else:
        assert code == 0 and "Traceback" not in err, err
    assert await row_counts(db) == before
    assert "\x1b" not in out + err
