"""The ``:`` command line on screen: an input at the bottom, tab to complete, up/down
for history, enter to run, escape to close."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from queueconsole.console.command_line import Command, CommandError, History, complete, parse


class CommandLine(Input):
    """Hidden until ``:``; a bad command keeps the line open with the reason shown."""

    DEFAULT_CSS = """
    CommandLine {
        display: none;
        dock: bottom;
        height: 3;
        margin-bottom: 1;
    }
    CommandLine.-open {
        display: block;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", show=False),
        Binding("tab", "complete", "Complete", show=False, priority=True),
        Binding("up", "history(-1)", "Older command", show=False),
        Binding("down", "history(1)", "Newer command", show=False),
    ]

    class Run(Message):
        """The operator asked for ``command``."""

        def __init__(self, command: Command) -> None:
            super().__init__()
            self.command = command

    def __init__(
        self, queues: Callable[[], Iterable[str]] = tuple, *, id: str | None = None
    ) -> None:
        """Args:
        queues: the queue names known now, for completing ``queue …``.
        id: the widget id.
        """
        super().__init__(placeholder=":job 123 · workflow 7 · queue mail · jobs (tab, ↑↓)", id=id)
        self._queues = queues
        self.history = History()

    @property
    def is_open(self) -> bool:
        """Whether the line is on screen."""
        return self.has_class("-open")

    def open(self) -> None:
        """Show an empty line and focus it."""
        self.value = ""
        self.history.reset()
        self.add_class("-open")
        self.focus()

    def action_close(self) -> None:
        self.remove_class("-open")
        self.app.set_focus(None)
        self.screen.focus_next()

    def action_complete(self) -> None:
        self.value = complete(self.value, self._queues())
        self.cursor_position = len(self.value)

    def action_history(self, step: int) -> None:
        line = self.history.older() if step < 0 else self.history.newer()
        if line is not None:
            self.value = line
            self.cursor_position = len(line)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            command = parse(event.value)
        except CommandError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.history.add(event.value)
        self.remove_class("-open")
        self.post_message(self.Run(command))
