"""``queueconsole`` with no command opens the console; the other commands are untouched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from queueconsole.cli.commands.console import with_default_command
from queueconsole.cli.main import build_parser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["console"]),
        (["--read-only"], ["console", "--read-only"]),
        (["--attach", "--read-only"], ["console", "--attach", "--read-only"]),
        (["--config", "x.toml"], ["console", "--config", "x.toml"]),
        (["--config", "x.toml", "status"], ["--config", "x.toml", "status"]),
        (["status", "--json"], ["status", "--json"]),
        (["demo"], ["demo"]),
        (["--help"], ["--help"]),
        (["--version"], ["--version"]),
        (["nonsense"], ["nonsense"]),
    ],
)
def test_no_command_means_console(argv, expected):
    assert with_default_command(build_parser(), argv) == expected


def test_console_flags_parse():
    args = build_parser().parse_args(with_default_command(build_parser(), ["--read-only"]))
    assert args.command == "console"
    assert args.read_only is True
    assert args.attach is False


def test_demo_flags_parse():
    args = build_parser().parse_args(["demo", "--no-trickle", "--workers", "3"])
    assert args.no_trickle is True
    assert args.workers == 3


def test_help_still_prints_help():
    out = subprocess.run(
        [sys.executable, "-m", "queueconsole", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "console" in out.stdout and "demo" in out.stdout
