"""``?``: every key binding the console has, read from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {
    "slash": "/",
    "colon": ":",
    "question_mark": "?",
    "plus": "+",
    "minus": "-",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "escape": "esc",
}


def key_label(key: str) -> str:
    """A binding's key as a person types it."""
    return ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def binding_rows(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(key, description) of each binding that has a description."""
    rows = []
    for b in bindings:
        if isinstance(b, Binding):
            key, description = b.key, b.description
        else:
            key, description = b[0], b[2] if len(b) > 2 else ""
        if description:
            rows.append((key_label(key), description))
    return rows


class HelpScreen(ModalScreen[None]):
    """Sections of (key, what it does); any of escape, q or ? closes it.

    Args:
        sections: (title, bindings) pairs, in the order to show them.
    """

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 90;
        height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close help"),
    ]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for title, rows in self._sections:
            table.add_row(Text(title, style="bold underline"), "")
            seen = set()
            for key, description in rows:
                if (key, description) in seen:
                    continue
                seen.add((key, description))
                table.add_row(Text(key), Text(description))
            table.add_row("", "")
        with VerticalScroll():
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
