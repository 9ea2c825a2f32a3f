"""Configuration: env, TOML precedence, and passwords never shown."""

import pytest

from engine.config import Settings, load_settings, mask_url, sqlalchemy_url
from engine.errors import ConfigError


def test_defaults_are_the_standard_local_ports():
    s = load_settings(environ={})
    assert ":5432/" in s.database_url
    assert ":5672/" in s.amqp_url
    assert ":6379/" in s.redis_url
    assert s.namespace == "qc"


def test_toml_overrides_environment(tmp_path):
    cfg = tmp_path / "qc.toml"
    cfg.write_text('namespace = "fromfile"\njob_modules = ["myapp.jobs"]\n')
    s = load_settings(
        cfg,
        environ={"QUEUECONSOLE_NAMESPACE": "fromenv", "QUEUECONSOLE_REDIS_URL": "redis://h:1/2"},
    )
    assert s.namespace == "fromfile"
    assert s.redis_url == "redis://h:1/2"
    assert s.job_modules == ("myapp.jobs",)


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
