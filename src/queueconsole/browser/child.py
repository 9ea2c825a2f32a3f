"""The console process textual-serve starts for each browser tab.

textual-serve runs a shell command per session and talks to it over stdin and
stdout. The command line is visible to every user of the machine (``ps``), so it
carries only flags that are no secret: ``console --attach`` and, unless the
token may operate, ``--read-only``. The settings, database URL and its password
included, go in the child's environment (as the supervisor hands them to its
workers); the token never reaches the child at all, since the server has
already checked it and the console needs none.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from engine.config import CONFIG_ENV, Settings, to_environ


def console_command(*, read_only: bool, reason: str | None = None) -> str:
    """The shell command of one browser console: attached to the running engines (a tab
    must not start workers of its own), read-only unless the token may operate, with
    ``reason`` as what its refusals say (a token's name and scope are no secret)."""
    words = [sys.executable, "-m", "queueconsole", "console", "--attach"]
    if read_only:
        words.append("--read-only")
        if reason:
            words += ["--read-only-reason", reason]
    return shlex.join(words)


def child_environment(settings: Settings, config_file: Path | None) -> dict[str, str]:
    """``QUEUECONSOLE_*`` variables that make the child load exactly the server's settings.

    Variables rank above any config file, so the child cannot drift from the
    server; the server's config file is named too, for the few settings that
    were left unset (a child reading a different default file would see others).
    """
    env = to_environ(settings)
    if config_file is not None:
        env[CONFIG_ENV] = str(config_file)
    return env


class ConsoleSession(AppService):
    """textual-serve's app process, started with the server's settings in its environment.

    Args:
        command: from :func:`console_command`.
        environment: from :func:`child_environment`; added to the server's own.
    """

    def __init__(
        self,
        command: str,
        environment: Mapping[str, str],
        *,
        write_bytes: Callable[[bytes], Awaitable[None]],
        write_str: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        download_manager: DownloadManager,
    ) -> None:
        super().__init__(
            command,
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,
            download_manager=download_manager,
        )
        self._environment = dict(environment)

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        """textual-serve's environment for the app (its web driver, the size), then ours."""
        env = super()._build_environment(width=width, height=height)
        env.update(self._environment)
        return env
