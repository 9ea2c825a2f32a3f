"""Running the console from the command line: logging, the engine, the app.

While Textual owns the terminal, nothing else may write to it: a log line on
stderr would be drawn over the panes. So the console's logging goes to a
file in the state directory for as long as the app runs.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.config import Settings
from queueconsole.console.actions import READ_ONLY_FLAG
from queueconsole.console.app import Background, ConsoleApp
from queueconsole.console.link import open_link

LOG_BYTES = 5 * 1024 * 1024  # bytes per console log file before it rotates
LOG_FILES = 3  # rotated console log files kept


def state_dir() -> Path:
    """Where the console keeps its log and the demo its private services."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "queueconsole"


class _FileLogging:
    """Route the root logger to a file while the app runs; restore it afterwards."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved: list[logging.Handler] = []

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        root = logging.getLogger()
        self._saved = list(root.handlers)
        for handler in self._saved:
            root.removeHandler(handler)
        handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=LOG_BYTES, backupCount=LOG_FILES, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self.path

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in self._saved:
            root.addHandler(handler)


async def run_console(
    settings: Settings,
    *,
    attach: bool = False,
    read_only: bool = False,
    read_only_reason: str | None = None,
    workers: Mapping[str, int] | int | None = None,
    memory_budget_mb: int | None = None,
    background: Sequence[Background] = (),
) -> int:
    """Open the console until the user quits; the embedded engine is drained on the way out."""
    with _FileLogging(state_dir() / "console.log"):
        link = await open_link(
            settings, attach=attach, workers=workers, memory_budget_mb=memory_budget_mb
        )
        app = ConsoleApp(
            link,
            read_only=read_only,
            read_only_reason=read_only_reason or READ_ONLY_FLAG,
            background=background,
        )
        try:
            await app.run_async()
        finally:
            # The app stops the engine when quit with q; anything else (a crash,
            # ctrl+c) still drains the workers here.
            if not app.stopped_engine:
                await link.stop()
    return app.return_code or 0
