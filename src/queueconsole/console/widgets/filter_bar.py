"""The Jobs pane's filter input (``/``): ``state:failed queue:mail resize``."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from engine.snapshots import JobFilter
from queueconsole.console.filters import FilterError, parse_filter


class FilterBar(Input):
    """Enter applies the filter, escape closes the bar without changing it."""

    DEFAULT_CSS = """
    FilterBar {
        display: none;
        height: 3;
    }
    FilterBar.-open {
        display: block;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close filter", show=False)]

    class Applied(Message):
        """The user asked for this filter."""

        def __init__(self, flt: JobFilter, text: str) -> None:
            super().__init__()
            self.filter = flt
            self.text = text

    class Closed(Message):
        """The bar was closed without applying anything."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="state:failed queue:Q type:T workflow:N text…  (enter apply, esc close)",
            id=id,
        )

    def open(self, current: str) -> None:
        """Show the bar with the current filter and focus it."""
        self.value = current
        self.add_class("-open")
        self.focus()

    def action_close(self) -> None:
        self.remove_class("-open")
        self.post_message(self.Closed())

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            flt = parse_filter(event.value)
        except FilterError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.remove_class("-open")
        self.post_message(self.Applied(flt, event.value.strip()))
