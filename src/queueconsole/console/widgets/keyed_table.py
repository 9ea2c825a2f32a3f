"""A DataTable refreshed from snapshots without flicker or lost cursor.

Refreshing a table by clearing it every second costs CPU at idle and makes
the cursor jump. :class:`KeyedTable` keeps rows keyed by an id: when a new
snapshot has the same keys in the same order only the changed cells are
updated (nothing at all when nothing changed), otherwise the rows are rebuilt
and the cursor returns to the row it was on. Plain strings are turned into
literal :class:`~rich.text.Text` so no cell is ever parsed as markup.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.widgets import DataTable

from queueconsole.console.text import literal

Row = tuple[Hashable, Sequence[object]]


def _cell(value: object) -> object:
    if isinstance(value, str):
        return literal(value, one_line=True)
    if value is None:
        return Text("-")
    return value


def _same(a: object, b: object) -> bool:
    """Cell equality that, unlike ``Text.__eq__``, also sees a change of style."""
    if a is b:
        return True
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and str(a.style) == str(b.style) and a.spans == b.spans
    return type(a) is type(b) and a == b


class KeyedTable(DataTable[object]):
    """A row-cursor DataTable whose rows are replaced with :meth:`set_rows`."""

    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
    }
    """

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Args:
        columns: ``(key, label)`` of each column, in order.
        id: the widget id.
        classes: CSS classes.
        """
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._column_spec = tuple(columns)
        self._keys: list[Hashable] = []
        self._values: dict[Hashable, tuple[object, ...]] = {}

    def on_mount(self) -> None:
        for key, label in self._column_spec:
            self.add_column(label, key=key)

    @property
    def row_keys(self) -> tuple[Hashable, ...]:
        """The keys of the rows shown, top to bottom."""
        return tuple(self._keys)

    @property
    def selected_key(self) -> Hashable | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if not self._keys:
            return None
        index = min(max(self.cursor_row, 0), len(self._keys) - 1)
        return self._keys[index]

    def select_key(self, key: Hashable) -> bool:
        """Move the cursor to the row with ``key``; False if it is not shown."""
        try:
            index = self._keys.index(key)
        except ValueError:
            return False
        self.move_cursor(row=index, animate=False)
        return True

    def _cells(self, key: Hashable, cells: Sequence[object]) -> tuple[object, ...]:
        """The row's cells, reusing the shown tuple when nothing in it changed."""
        new = tuple(_cell(v) for v in cells)
        old = self._values.get(key)
        if old is not None and len(old) == len(new) and all(map(_same, old, new)):
            return old
        return new

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Show exactly ``rows`` (key, cells), touching only what changed."""
        keys = [k for k, _ in rows]
        values = {k: self._cells(k, cells) for k, cells in rows}
        if keys == self._keys:
            for key in keys:
                old, new = self._values[key], values[key]
                if old is new:
                    continue
                for (column, _label), before, after in zip(
                    self._column_spec, old, new, strict=True
                ):
                    if not _same(before, after):
                        self.update_cell(str(key), column, after, update_width=True)
            self._values = values
            return
        selected = self.selected_key
        index = self.cursor_row
        self.clear(columns=False)
        for key in keys:
            self.add_row(*values[key], key=str(key))
        self._keys = keys
        self._values = values
        if not keys:
            return
        if selected is None or not self.select_key(selected):
            self.move_cursor(row=min(max(index, 0), len(keys) - 1), animate=False)
