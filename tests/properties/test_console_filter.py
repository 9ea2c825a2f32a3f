"""Property: whatever is typed in the Jobs pane's filter bar is a filter or a FilterError.

The bar parses on every submit; any other exception escaping the parser ends
the console. The parsed filter then goes to the read API, which must answer
(possibly with nothing) rather than fail in the driver.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.snapshots import JobFilter
from queueconsole.console.filters import FilterError, describe_filter, parse_filter
from tests.properties.conftest import DB_SETTINGS, PURE_SETTINGS, nasty_text

tokens = st.one_of(
    st.builds(
        "{}:{}".format,
        st.sampled_from(["state", "queue", "type", "workflow", "STATE", "nope"]),
        st.one_of(
            st.sampled_from(["failed", "", "²", "٣", "12", "9" * 30, "%", "_"]),
            nasty_text,
        ),
    ),
    nasty_text,
)
typed = st.lists(tokens, max_size=4).map(" ".join)


@PURE_SETTINGS
@given(text=typed)
def test_typed_text_parses_or_is_refused_by_name(text):
    try:
        flt = parse_filter(text)
    except FilterError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
        return
    assert isinstance(flt, JobFilter)
    assert parse_filter(describe_filter(flt)) == flt or flt.text is not None


@DB_SETTINGS
@given(text=typed)
async def test_a_parsed_filter_is_answered(client, text):
    try:
        flt = parse_filter(text)
    except FilterError:
        return
    await client.jobs(flt, limit=5)
