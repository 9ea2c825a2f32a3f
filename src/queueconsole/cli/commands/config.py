"""``queueconsole config``: every effective setting and where it came from.

The answer to "why does it connect there?": each setting with its value
(passwords in URLs masked, secrets hidden) and its source — a flag, an
environment variable, the config file (by path) or the built-in default.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from engine.config import ResolvedSettings, Settings, shown_value
from engine.routes import Routes
from queueconsole.cli.logging_options import add_logging_arguments
from queueconsole.cli.output import print_json, table
from queueconsole.cli.settings import resolve


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command."""
    p = sub.add_parser(
        "config",
        parents=parents,
        help="print the effective settings and where each came from",
        description="Print every setting with its source: flag > environment > config file "
        "> default. Passwords in URLs are masked.",
    )
    p.add_argument("--json", action="store_true", help="print the settings as JSON")
    # The flags that set settings, so `config --log-level debug` shows what an engine
    # given the same flags would use.
    add_logging_arguments(p)
    p.set_defaults(handler=run_config)


def config_document(resolved: ResolvedSettings) -> dict[str, Any]:
    """``config --json``: ``config_file``, ``default_config_file`` and ``settings``, each
    setting ``{"value", "source", "from"}`` (``from``: the path, variable or flag)."""
    settings = resolved.settings
    return {
        "config_file": str(resolved.config_file) if resolved.config_file else None,
        "default_config_file": (
            str(resolved.default_config_file) if resolved.default_config_file else None
        ),
        "settings": {
            f.name: {
                "value": shown_value(f.name, getattr(settings, f.name)),
                "source": str(resolved.sources[f.name].origin),
                "from": resolved.sources[f.name].where or None,
            }
            for f in fields(Settings)
        },
    }


def run_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings the other commands would use with the same flags."""
    resolved = resolve(args)
    if args.json:
        print_json(config_document(resolved))
        return 0
    if resolved.config_file is not None:
        print(f"config file: {resolved.config_file}")
    elif resolved.default_config_file is not None:
        print(f"config file: none ({resolved.default_config_file} does not exist)")
    else:
        print("config file: none (no home directory to look in)")
    rows = []
    for f in fields(Settings):
        setting = getattr(resolved.settings, f.name)
        value = shown_value(f.name, setting)
        if isinstance(setting, Routes):
            value = routes_summary(setting)
        elif isinstance(value, list):
            value = ",".join(value)
        rows.append([f.name, "" if value is None else value, str(resolved.sources[f.name])])
    table(["setting", "value", "source"], rows)
    return 0


def routes_summary(routes: Routes) -> str:
    """The routing table on one line (``queueconsole routes`` prints it in full)."""
    if not routes:
        return ""
    parts = []
    for rule in routes:
        fields_ = [
            f"queue {rule.queue}" if rule.queue is not None else "",
            f"priority {rule.priority.label}" if rule.priority is not None else "",
        ]
        parts.append(f"{rule.pattern} -> {', '.join(x for x in fields_ if x)}")
    return "; ".join(parts)
