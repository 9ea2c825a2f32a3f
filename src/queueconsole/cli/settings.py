"""From the parsed command line to the effective settings.

Flags that set a setting (``--log-level``, ``--log-format``) use the setting's name
as their ``dest`` and leave it out of the namespace when not given
(``argparse.SUPPRESS``), so whatever is present was typed on this command line
and ranks above the environment and the config file.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from engine.config import ResolvedSettings, Settings, resolve_settings

SETTING_NAMES = frozenset(f.name for f in fields(Settings))


def setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags on this command line, by field name."""
    return {name: value for name, value in vars(args).items() if name in SETTING_NAMES}


def resolve(args: argparse.Namespace) -> ResolvedSettings:
    """Defaults < config file (``--config`` or the default) < environment < flags."""
    return resolve_settings(getattr(args, "config", None), flags=setting_flags(args))
