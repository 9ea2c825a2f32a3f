"""Property: a workflow file is accepted whole, or refused in one line with nothing written.

``parse_workflow`` and validation get random documents of the right and wrong
shapes; ``queueconsole submit --file`` gets random bytes, other encodings,
invalid JSON, numbers longer than Python reads, nesting deeper than its
parser goes. A refusal is exit status 2 and one ``queueconsole: error:`` line
on stderr, never a traceback, and no table gains a row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ValidationError
from engine.specs import check_workflow_name, parse_workflow, prepare
from tests.properties.conftest import (
    DB_SETTINGS,
    PURE_SETTINGS,
    QUEUES,
    assert_one_line_error,
    nasty_text,
    row_counts,
    run_cli,
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),  # json.loads reads NaN and Infinity
    nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)
refs = st.one_of(st.sampled_from(["a", "b", "c"]), nasty_text, json_values)
job_items = st.fixed_dictionaries(
    {},
    optional={
        "ref": refs,
        "type": st.one_of(st.sampled_from(["demo.noop", "demo.noop\n", "x y"]), json_values),
        "payload": json_values,
        "queue": st.one_of(st.sampled_from([*QUEUES, "bad queue", "default\n"]), json_values),
        "priority": st.one_of(st.sampled_from(["high", "urgent", 3, 9]), json_values),
        "depends_on": st.one_of(
            st.lists(st.one_of(st.sampled_from(["a", "b", "c", "zz", 1, 10**9]), json_values)),
            json_values,
        ),
        "key": st.one_of(nasty_text, json_values),
        "max_retries": st.one_of(st.integers(-2, 1002), json_values),
        "timeout": st.one_of(st.sampled_from([1, 1e400, 10**400, -1, 0.5]), json_values),
        "memory_mb": st.one_of(st.integers(-1, 10), json_values),
        "ttl_s": json_values,
        "backoff_s": json_values,
        "bogus": json_values,
    },
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"jobs": st.one_of(st.lists(job_items, max_size=4), json_values)},
        optional={"name": st.one_of(nasty_text, json_values), "extra": json_values},
    ),
    json_values,
)


@PURE_SETTINGS
@given(document=documents)
def test_parsing_and_validation_never_raise_anything_else(document):
    try:
        name, specs = parse_workflow(document)
        check_workflow_name(name)
        prepare(specs, workflow=True)
    except ValidationError as exc:
        message = str(exc)
        assert message.strip() and len(message.splitlines()) == 1, repr(message)


# -- the command: bytes in, one line out ------------------------------------------


def _encode(document: Any, how: str) -> bytes:
    text = json.dumps(document, ensure_ascii=(how == "ascii"), allow_nan=True)
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if how == "truncated":
        return text.encode("utf-8", "surrogatepass")[: max(1, len(text) // 2)]
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate: not UTF-8 any more


file_bodies = st.one_of(
    st.builds(
        _encode, documents, st.sampled_from(["ascii", "utf-8", "utf-16", "bom", "truncated"])
    ),
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"\xff\xfe\x00",
            b"[" * 100_000,
            b'{"jobs": [{"type": "demo.noop", "max_retries": ' + b"9" * 5000 + b"}]}",
            b'{"jobs": [{"type": "demo.noop", "payload": {"n": ' + b"9" * 5000 + b"}}]}",
            b'{"jobs": [{"type": "demo.noop"}], "name": "a\\u0000b"}',
            b'{"jobs": [{"type": "demo.noop", "ref": "\\ud800"}]}',
            b'{"jobs": [{"type": "demo.noop", "key": "\\udcff"}]}',
            b'{"jobs": [{"type": "demo.noop", "timeout": 1' + b"0" * 400 + b"}]}",
        ]
    ),
)


@DB_SETTINGS
@given(body=file_bodies)
async def test_submit_file_accepts_whole_files_or_refuses_in_one_line(
    cli_namespace, db, capsys, tmp_path: Path, body
):
    path = tmp_path / "workflow.json"
    path.write_bytes(body)
    before = await row_counts(db)
    code, out, err = await run_cli(capsys, "submit", "--file", str(path), "--json")
    after = await row_counts(db)
    if code == 0:
        ids = json.loads(out)
        assert after["jobs"] - before["jobs"] == len(ids)
        assert after["workflows"] - before["workflows"] == 1
        assert err == ""
    else:
        assert_one_line_error(code, err)
        assert after == before
        assert out == ""
