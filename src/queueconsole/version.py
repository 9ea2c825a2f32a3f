"""The installed version, read from the package metadata.

``pyproject.toml`` is the only place the version is written; the build copies
it into the distribution's metadata, and this reads it back. Importing
:mod:`importlib.metadata` costs a few milliseconds, so nothing here runs until
someone asks (``queueconsole --version``, ``queueconsole.__version__``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

DISTRIBUTION = "queueconsole"
UNKNOWN = "0+unknown"
"""What a source tree that was never installed reports (a PEP 440 local version)."""


def installed_version() -> str:
    """The version of the installed ``queueconsole`` distribution."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN


class VersionAction(argparse.Action):
    """``--version``: print ``queueconsole X.Y.Z`` and exit 0, reading the metadata only
    then (argparse's own action wants the text when the parser is built)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {installed_version()}")  # stdout, as argparse's own does
        parser.exit()
