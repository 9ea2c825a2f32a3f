"""The top line: which pane is shown, how to reach the others, and the console's mode."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

PANES: tuple[tuple[str, str, str], ...] = (
    ("1", "overview", "Overview"),
    ("2", "jobs", "Jobs"),
    ("3", "dag", "DAG"),
    ("4", "workers", "Workers"),
    ("5", "failures", "Failures"),
    ("6", "schedules", "Schedules"),
)
"""(key, pane id, title) of every pane, in key order."""

FROZEN = "FROZEN (F)"


class PaneBar(Widget):
    """One line: ``queueconsole  1 Overview  [2 Jobs]  3 DAG …  embedded · read-only``.

    The active pane is drawn reversed and in brackets, so it is visible
    without colour too.
    """

    DEFAULT_CSS = """
    PaneBar {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    active: reactive[str] = reactive("overview")
    """Id of the pane on screen."""
    mode: reactive[str] = reactive("")
    """Right-hand label: embedded / attached / client, read-only."""
    frozen: reactive[bool] = reactive(False)
    """Live refresh stopped (``F``): what is on screen is not moving, and may be old."""

    def render(self) -> Text:
        right = Text(no_wrap=True)
        if self.frozen:
            right.append(FROZEN, style="bold reverse")
            right.append(" ")
        if self.mode:
            right.append(self.mode, style="italic")
        width = self.size.width
        text = self._tabs(compact=False)
        if width and text.cell_len + right.cell_len + 2 > width:
            text = self._tabs(compact=True)  # 80 columns: the other panes by key only
        if right and width:
            gap = width - text.cell_len - right.cell_len - 1
            if gap >= 1:
                text.append(" " * gap)
                text.append_text(right)
            elif self.frozen:  # too narrow for both: the marker matters more than the mode
                text = text[: max(width - len(FROZEN) - 1, 0)]
                text.append(" ")
                text.append(FROZEN, style="bold reverse")
        return text

    def _tabs(self, *, compact: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" queueconsole ", style="bold")
        for key, pane_id, title in PANES:
            if pane_id == self.active:
                text.append(f"[{key} {title}]", style="bold reverse")
            else:
                text.append(f" {key} " if compact else f" {key} {title} ")
            text.append(" ")
        return text
