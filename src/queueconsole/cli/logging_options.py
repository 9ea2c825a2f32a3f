"""``--log-level`` and ``--log-format`` for the long-running commands.

``engine`` and ``worker`` take them (and any other long-running command should:
add the flags with :func:`add_logging_arguments`, then call
:func:`configure_logging` with the settings its handler receives). The flags
are settings like any other: ``log_level`` / ``log_format`` in the config file,
``QUEUECONSOLE_LOG_LEVEL`` / ``QUEUECONSOLE_LOG_FORMAT`` in the environment, and
a flag beats both. The CLI's entry point folds the flags into the settings, so
the handler needs nothing from ``args`` here.
"""

from __future__ import annotations

import argparse

from engine.config import LOG_FORMATS, LOG_LEVELS, Settings
from engine.logs import configure_logging as _configure_engine_logging


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--log-level`` and ``--log-format``; absent flags leave the setting alone."""
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=argparse.SUPPRESS,
        help="lowest level logged (default: the log_level setting, info)",
    )
    parser.add_argument(
        "--log-format",
        type=str.lower,
        choices=LOG_FORMATS,
        default=argparse.SUPPRESS,
        help="text, or json: one object per line with ts, level, logger, message and "
        "exception (default: the log_format setting, text)",
    )


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the effective level and format (flag > env > file > default)."""
    _configure_engine_logging(settings)
