"""``queueconsole config``: the effective settings, where each came from, secrets masked.

Order, lowest to highest: defaults, the config file, ``QUEUECONSOLE_*`` variables,
flags. Runs ``main()`` in-process with the machine's own config file out of reach
(``XDG_CONFIG_HOME`` and ``HOME`` point into a temporary directory).
"""

import json

import pytest

from queueconsole.cli.main import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home directory of the test's own, and no QUEUECONSOLE_* variables."""
    import os

    for key in list(os.environ):
        if key.startswith("QUEUECONSOLE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return tmp_path


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def settings_json(capsys, *args):
    code, out, err = run(capsys, "config", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_each_setting_says_where_it_came_from(home, capsys, monkeypatch):
    xdg = home / "xdg"
    default = xdg / "queueconsole" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text(
        'namespace = "fromfile"\nlog_format = "json"\n'
        'database_url = "postgresql://app:filesecret@db.example:5432/jobs"\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.setenv("QUEUECONSOLE_NAMESPACE", "fromenv")
    monkeypatch.setenv("QUEUECONSOLE_LOG_LEVEL", "warning")
    doc = settings_json(capsys, "--log-level", "debug")
    assert doc["config_file"] == str(default)
    s = doc["settings"]
    assert s["namespace"] == {
        "value": "fromenv",
        "source": "env",
        "from": "QUEUECONSOLE_NAMESPACE",
    }
    assert s["log_level"] == {"value": "debug", "source": "flag", "from": "--log-level"}
    assert s["log_format"] == {"value": "json", "source": "file", "from": str(default)}
    assert s["database_url"]["value"] == "postgresql://app:***@db.example:5432/jobs"
    assert s["redis_url"] == {
        "value": "redis://127.0.0.1:6379/0",
        "source": "default",
        "from": None,
    }
    assert s["job_modules"]["value"] == []


def test_text_form_masks_passwords_and_names_the_missing_default_file(home, capsys, monkeypatch):
    monkeypatch.setenv("QUEUECONSOLE_AMQP_URL", "amqp://bob:hunter2@mq:5672/%2F")
    code, out, err = run(capsys, "config")
    assert code == 0, err
    assert "hunter2" not in out
    lines = out.splitlines()
    expected = home / ".config" / "queueconsole" / "config.toml"
    assert lines[0] == f"config file: none ({expected} does not exist)"
    amqp = next(line for line in lines if line.startswith("amqp_url"))
    assert amqp.split() == [
        "amqp_url",
        "amqp://bob:***@mq:5672/%2F",
        "env",
        "QUEUECONSOLE_AMQP_URL",
    ]
    namespace = next(line for line in lines if line.startswith("namespace"))
    assert namespace.split() == ["namespace", "qc", "default"]


def test_config_flag_and_variable_name_the_file(home, capsys, monkeypatch):
    named = home / "named.toml"
    named.write_text('namespace = "named"\n')
    other = home / "other.toml"
    other.write_text('namespace = "other"\n')
    monkeypatch.setenv("QUEUECONSOLE_CONFIG", str(named))
    assert settings_json(capsys)["settings"]["namespace"]["value"] == "named"
    doc = settings_json(capsys, "--config", str(other))
    assert doc["config_file"] == str(other)
    assert doc["settings"]["namespace"]["from"] == str(other)
    # The option may also come before the command.
    code, out, _ = run(capsys, "--config", str(other), "config", "--json")
    assert code == 0 and json.loads(out)["settings"]["namespace"]["value"] == "other"


def test_a_bad_config_file_is_one_line_and_status_2(home, capsys):
    bad = home / "bad.toml"
    bad.write_text("log_level = 'loud'\n")
    code, out, err = run(capsys, "--config", str(bad), "config")
    assert code == 2 and out == ""
    levels = "debug, info, warning, error, critical"
    assert err.strip() == f"queueconsole: error: log_level 'loud' is not one of {levels}"
    code, _, err = run(capsys, "--config", str(home / "gone.toml"), "status")
    assert code == 2 and "does not exist" in err


def test_a_bad_log_flag_is_a_usage_error(home, capsys):
    code, _, err = run(capsys, "config", "--log-format", "xml")
    assert code == 2
    assert "--log-format: invalid choice: 'xml'" in err
