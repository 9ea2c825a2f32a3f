"""What every pane offers the app: its data, its selection, and how to draw both."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from queueconsole.console.model import Overview, Selection
from queueconsole.console.source import DataSource


class Pane(Vertical):
    """A pane of the console.

    The app calls :meth:`load` from a worker on every refresh while the pane is
    shown and hands the snapshot it returns to :meth:`show` on the UI; every
    pane also gets the shared :class:`Overview` through :meth:`on_overview`.
    """

    DEFAULT_CSS = """
    Pane {
        height: 1fr;
    }
    Pane > .pane-status {
        height: 1;
        color: $text-muted;
    }
    """

    title: ClassVar[str] = "pane"

    def selection(self) -> Selection:
        """What the cursor is on, for the actions."""
        return Selection()

    async def load(self, source: DataSource) -> Any | None:
        """Read this pane's own data (beyond the overview); None when it needs none."""
        return None

    def show(self, data: Any) -> None:
        """Draw what :meth:`load` returned."""

    def on_overview(self, overview: Overview) -> None:
        """Draw from the shared overview snapshot (called on every refresh)."""

    def focus_default(self) -> None:
        """Focus what the keys should move when the pane is shown (its first table)."""
        for widget in self.query("*"):
            if widget.focusable and widget.display:
                widget.focus()
                return

    def show_error(self, message: str) -> None:
        """The pane's data could not be read this time; say so without clearing it."""
        for status in self.query(".pane-status").results(Static):
            status.update(Text(f"not refreshed: {message}", style="italic"))
            break
