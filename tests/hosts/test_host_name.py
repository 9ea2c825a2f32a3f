"""What a host calls itself: ``host_name`` from the environment, the config file or a flag,
else the machine's name; a name that would garble worker ids is refused in one line."""

from __future__ import annotations

import socket

import pytest

from engine.config import load_settings, to_environ
from engine.errors import ConfigError


def test_the_machines_name_is_the_default():
    assert load_settings(environ={}).host == socket.gethostname()


def test_the_environment_names_the_host_and_children_inherit_it():
    settings = load_settings(environ={"QUEUECONSOLE_HOST_NAME": "worker-7"})
    assert settings.host == "worker-7"
    # The supervisor starts workers with to_environ: they must report the same host.
    assert load_settings(environ=to_environ(settings)).host == "worker-7"


def test_the_config_file_names_the_host(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('host_name = "rack2.node-4"\n')
    assert load_settings(path, environ={}).host == "rack2.node-4"


@pytest.mark.parametrize("bad", ["two words", "-dash", "a:b", "x" * 64, "tab\there"])
def test_a_bad_host_name_is_refused_naming_it(bad):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"QUEUECONSOLE_HOST_NAME": bad})
    message = str(caught.value)
    assert "host_name" in message and "not a usable host name" in message
    assert "\n" not in message
