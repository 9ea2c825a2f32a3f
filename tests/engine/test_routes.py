"""Routing rules as configuration: parsing, validation, first match wins, precedence."""

import json

import pytest

from engine.config import Settings, resolve_settings, to_environ
from engine.errors import ConfigError
from engine.priority import Priority
from engine.routes import Routes, parse_routes
from engine.specs import JobSpec, prepare

RULES = [
    {"type": "reports.*", "queue": "slow", "priority": "low"},
    {"type": "reports.urgent", "queue": "fast", "priority": "critical"},  # shadowed by #1
    {"type": "mail.[!x]*", "priority": "high"},
    {"type": "img.resize?", "queue": "images"},
]


def table(rules=RULES) -> Routes:
    return parse_routes(rules, "test")


def test_the_first_matching_rule_decides_and_its_missing_fields_are_the_defaults():
    routes = table()
    assert routes.explain("reports.daily").queue == "slow"
    urgent = routes.explain("reports.urgent")  # rule #2 is never reached: first match wins
    assert (urgent.queue, urgent.priority, urgent.rule.index) == ("slow", Priority.LOW, 1)
    mail = routes.explain("mail.send")
    assert (mail.queue, mail.priority, mail.rule.index) == ("default", Priority.HIGH, 3)
    assert routes.explain("mail.xsend").rule is None  # [!x] excludes it
    img = routes.explain("img.resize2")
    assert (img.queue, img.priority) == ("images", Priority.NORMAL)
    assert routes.explain("img.resize22").rule is None  # ? is exactly one character
    assert routes.explain("Reports.daily").rule is None  # case matters, as in type names


def test_what_the_caller_gives_wins_each_field_on_its_own():
    routes = table()
    specs = [
        JobSpec("reports.daily"),
        JobSpec("reports.daily", queue="mine"),
        JobSpec("reports.daily", priority="high"),
        JobSpec("reports.daily", queue="mine", priority=Priority.CRITICAL),
        JobSpec("other.type"),
    ]
    got = [(p.queue, p.priority) for p in prepare(specs, workflow=False, routes=routes)]
    assert got == [
        ("slow", Priority.LOW),
        ("mine", Priority.LOW),
        ("slow", Priority.HIGH),
        ("mine", Priority.CRITICAL),
        ("default", Priority.NORMAL),
    ]


def test_without_rules_a_spec_that_names_nothing_gets_default_and_normal():
    [job] = prepare([JobSpec("reports.daily")], workflow=False)
    assert (job.queue, job.priority) == ("default", Priority.NORMAL)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "a.*", "queue": "q", "lane": 1}, "unknown key(s) lane"),
        ({"queue": "q"}, "type is missing"),
        ({"type": "a.*"}, "sets neither queue nor priority"),
        ({"type": "", "queue": "q"}, "must be non-empty text"),
        ({"type": "reports.[", "queue": "q"}, "not closed"),
        ({"type": "reports]", "queue": "q"}, "']' without its '['"),
        ({"type": "a b", "queue": "q"}, "characters no job type has"),
        ({"type": "!a", "queue": "q"}, "'!' only negates a set"),
        ({"type": "a.[*]", "queue": "q"}, "not wildcards"),
        ({"type": "a.*", "queue": "sl ow"}, "'sl ow' is not a queue name"),
        ({"type": "a.*", "queue": 5}, "5 is not a queue name"),
        ({"type": "a.*", "priority": "urgent"}, "unknown priority 'urgent'"),
        ("a.*", "must be a table"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_number_and_text(rule, message):
    rules = [{"type": "ok.*", "queue": "fine"}, rule]
    with pytest.raises(ConfigError) as caught:
        parse_routes(rules, "config file /etc/qc.toml")
    text = str(caught.value)
    assert text.startswith("config file /etc/qc.toml: route #2 ")
    assert json.dumps(rule)[:40] in text  # the rule as its author wrote it
    assert message in text


def test_rules_come_from_the_config_file_or_the_environment_which_wins(tmp_path):
    cfg = tmp_path / "qc.toml"
    cfg.write_text(
        'namespace = "n"\n\n[[routes]]\ntype = "reports.*"\nqueue = "slow"\npriority = "low"\n'
        '\n[[routes]]\ntype = "mail.*"\npriority = "high"\n'
    )
    from_file = resolve_settings(cfg, environ={})
    assert from_file.settings.routes.to_json() == [
        {"type": "reports.*", "queue": "slow", "priority": "low"},
        {"type": "mail.*", "queue": None, "priority": "high"},
    ]
    assert str(from_file.sources["routes"]) == f"file {cfg}"
    env = {"QUEUECONSOLE_ROUTES": '[{"type": "x.*", "queue": "xq"}]'}
    from_env = resolve_settings(cfg, environ=env)
    assert from_env.settings.routes.to_json() == [{"type": "x.*", "queue": "xq", "priority": None}]
    assert str(from_env.sources["routes"]) == "env QUEUECONSOLE_ROUTES"
    assert str(resolve_settings(environ={}).sources["routes"]) == "default"


def test_a_bad_rule_in_a_file_or_variable_is_a_config_error_naming_where(tmp_path):
    cfg = tmp_path / "qc.toml"
    cfg.write_text('[[routes]]\ntype = "a.*"\nqueue = "q"\n\n[[routes]]\ntype = "b.*"\n')
    with pytest.raises(ConfigError, match=rf"config file {cfg}: route #2 .*neither"):
        resolve_settings(cfg, environ={})
    with pytest.raises(ConfigError, match="QUEUECONSOLE_ROUTES: routes must be a JSON list"):
        resolve_settings(environ={"QUEUECONSOLE_ROUTES": "{not json"})
    with pytest.raises(ConfigError, match="QUEUECONSOLE_ROUTES: routes must be a list"):
        resolve_settings(environ={"QUEUECONSOLE_ROUTES": '{"type": "a"}'})


def test_workers_started_by_a_supervisor_see_the_same_rules():
    settings = Settings(routes=[{"type": "reports.*", "queue": "slow"}])
    child = resolve_settings(environ=to_environ(settings)).settings
    assert child.routes == settings.routes
    assert Settings(routes=[]).routes == Routes()
