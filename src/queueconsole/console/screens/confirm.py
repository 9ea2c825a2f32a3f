"""A yes/no question before a destructive or bulk action, showing what it affects."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    """``y``/``enter`` confirms, ``n``/``escape`` cancels; dismisses with the answer.

    Args:
        title: the question, e.g. "Cancel job 12?".
        body: renderables describing the effect (job text inside must be literal Text).
    """

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > Vertical {
        width: 90%;
        max-width: 100;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    ConfirmScreen #confirm-title {
        text-style: bold;
        height: auto;
    }
    ConfirmScreen VerticalScroll {
        height: auto;
        max-height: 16;
    }
    ConfirmScreen #confirm-keys {
        height: 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("enter", "answer(True)", "Yes", show=False),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, title: str, body: list[RenderableType]) -> None:
        super().__init__()
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), id="confirm-title")
            with VerticalScroll():
                yield Static(Group(*self._body), id="confirm-body")
            yield Static(Text("y / enter: yes    n / escape: no"), id="confirm-keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
