"""A one-key choice between a few actions (``B``: retry or cancel), escape for none."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ChoiceScreen(ModalScreen[str | None]):
    """Dismisses with the key of the option pressed, or None on escape.

    Args:
        title: what is being chosen, e.g. "Act on 1,234 jobs matching state:failed".
        options: ``(key, what it does)`` of each option; keys are single characters.
    """

    DEFAULT_CSS = """
    ChoiceScreen {
        align: center middle;
    }
    ChoiceScreen > Vertical {
        width: 90%;
        max-width: 80;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    ChoiceScreen #choice-title {
        text-style: bold;
    }
    """

    def __init__(self, title: str, options: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._options = tuple(options)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), id="choice-title")
            for key, what in self._options:
                yield Static(Text.assemble((f" {key} ", "bold reverse"), f"  {what}"))
            yield Static(Text("escape: none of these", style="italic"))

    def on_key(self, event: events.Key) -> None:
        event.stop()
        if event.key == "escape":
            self.dismiss(None)
        elif event.character in {key for key, _ in self._options}:
            self.dismiss(event.character)
