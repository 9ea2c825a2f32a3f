"""Configuration: env, TOML precedence, and passwords never shown."""

import pytest

from engine.config import (
    Settings,
    load_settings,
    mask_url,
    resolve_settings,
    shown_value,
    sqlalchemy_url,
)
from engine.errors import ConfigError


def test_defaults_are_the_standard_local_ports():
    s = load_settings(environ={})
    assert ":5432/" in s.database_url
    assert ":5672/" in s.amqp_url
    assert ":6379/" in s.redis_url
    assert s.namespace == "qc"


def test_environment_overrides_the_config_file_and_flags_override_both(tmp_path):
    cfg = tmp_path / "qc.toml"
    cfg.write_text(
        'namespace = "fromfile"\njob_modules = ["myapp.jobs"]\nlog_level = "error"\n'
        'redis_url = "redis://file:1/0"\n'
    )
    resolved = resolve_settings(
        cfg,
        environ={"QUEUECONSOLE_NAMESPACE": "fromenv", "QUEUECONSOLE_LOG_LEVEL": "warning"},
        flags={"log_level": "debug"},
    )
    s = resolved.settings
    assert (s.namespace, s.redis_url, s.job_modules, s.log_level) == (
        "fromenv",
        "redis://file:1/0",
        ("myapp.jobs",),
        "debug",
    )
    src = {name: str(source) for name, source in resolved.sources.items()}
    assert src["namespace"] == "env QUEUECONSOLE_NAMESPACE"
    assert src["redis_url"] == f"file {cfg}"
    assert src["log_level"] == "flag --log-level"
    assert src["amqp_url"] == "default"
    assert resolved.config_file == cfg


def test_default_config_file_under_xdg_config_home(tmp_path):
    default = tmp_path / "xdg" / "queueconsole" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('namespace = "xdg"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    resolved = resolve_settings(environ=env)
    assert resolved.settings.namespace == "xdg"
    assert resolved.config_file == default


def test_default_config_file_falls_back_to_dot_config(tmp_path):
    default = tmp_path / "home" / ".config" / "queueconsole" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('namespace = "dotconfig"\n')
    assert load_settings(environ={"HOME": str(tmp_path / "home")}).namespace == "dotconfig"
    # A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": "relative"}
    assert load_settings(environ=env).namespace == "dotconfig"


def test_missing_default_config_file_is_not_an_error(tmp_path):
    resolved = resolve_settings(environ={"HOME": str(tmp_path)})
    assert resolved.config_file is None
    assert resolved.default_config_file == tmp_path / ".config" / "queueconsole" / "config.toml"
    assert resolved.settings.namespace == "qc"


def test_queueconsole_config_names_the_file_and_must_exist(tmp_path):
    named = tmp_path / "named.toml"
    named.write_text('namespace = "named"\n')
    default = tmp_path / ".config" / "queueconsole" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('namespace = "default"\n')
    env = {"HOME": str(tmp_path), "QUEUECONSOLE_CONFIG": str(named)}
    assert load_settings(environ=env).namespace == "named"
    # --config beats the variable.
    assert load_settings(default, environ=env).namespace == "default"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"QUEUECONSOLE_CONFIG": str(tmp_path / "gone.toml")})


def test_log_settings_are_validated_and_normalised():
    assert load_settings(environ={"QUEUECONSOLE_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match="log_level 'loud' is not one of debug, info"):
        load_settings(environ={"QUEUECONSOLE_LOG_LEVEL": "loud"})


def test_shown_values_mask_secrets():
    assert shown_value("database_url", "postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert shown_value("api_token", "qc_abc") == "***"
    assert shown_value("api_token", "") == ""
    assert shown_value("job_modules", ("a", "b")) == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("namespace = ", "is not valid TOML"),
        ("colour = 'red'", "unknown key(s) colour"),
        ("namespace = 3", "namespace must be a string"),
        ("namespace = 'has space'", "namespace 'has space' is not usable"),
        ("amqp_url = 'http://x'", "amqp_url 'http://x' must start with amqp:// or amqps://"),
    ],
)
def test_bad_config_files_are_explained(tmp_path, content, message):
    cfg = tmp_path / "qc.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert message in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("amqps://guest:p%40ss@h/%2F", "amqps://guest:***@h/%2F"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        (
            "postgresql://u@h/db?password=secret&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_redact_removes_passwords_from_any_text():
    s = Settings(database_url="postgresql://u:hunter2@h/db", amqp_url="amqp://g:p%40ss@h/")
    assert s.redact("failed: hunter2 and p@ss and p%40ss") == "failed: *** and *** and ***"


def test_sslmode_passes_through_to_asyncpg():
    assert sqlalchemy_url("postgresql://u@h/db?sslmode=require") == (
        "postgresql+asyncpg://u@h/db?ssl=require"
    )
