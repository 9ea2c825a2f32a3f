"""A DataTable refreshed from snapshots without flicker or lost cursor.

Refreshing a table by clearing it every second costs CPU at idle and makes
the cursor jump. :class:`KeyedTable` keeps rows keyed by an id: when a new
snapshot has the same keys in the same order only the changed cells are
updated (nothing at all when nothing changed), otherwise the rows are rebuilt
and the cursor returns to the row it was on. Plain strings are turned into
literal :class:`~rich.text.Text` so no cell is ever parsed as markup.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from queueconsole.console.text import literal

Row = tuple[Hashable, Sequence[object]]


def _cell(value: object) -> object:
    if isinstance(value, str):
        return literal(value, one_line=True)
    if value is None:
        return Text("-")
    return value


_NUMBER_RE = re.compile(r"^(-?[\d,]*\.?\d+)\s*(ms|s|m|h|d|K|M|G|%)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "K": 1 / 1024, "M": 1, "G": 1024}
ARROWS = {False: " ▲", True: " ▼"}
"""The header mark of the sorted column: ascending, descending."""


def sort_value(cell: object) -> tuple[int, float, str]:
    """How a shown cell sorts: numbers by value (``1,204``, ``3m``, ``57M``, ``12%``, with
    their units), then text; ``-`` (unknown) after everything, whichever the direction."""
    plain = cell.plain if isinstance(cell, Text) else str(cell)
    plain = plain.strip()
    if plain in ("", "-"):
        return (2, 0.0, "")
    match = _NUMBER_RE.match(plain)
    if match:
        number = float(match.group(1).replace(",", ""))
        return (0, number * _UNITS.get(match.group(2) or "", 1), "")
    return (1, 0.0, plain.casefold())


def _same(a: object, b: object) -> bool:
    """Cell equality that, unlike ``Text.__eq__``, also sees a change of style."""
    if a is b:
        return True
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and str(a.style) == str(b.style) and a.spans == b.spans
    return type(a) is type(b) and a == b


class KeyedTable(DataTable[object]):
    """A row-cursor DataTable whose rows are replaced with :meth:`set_rows`.

    ``s`` sorts by the next column and ``S`` reverses the order; the sorted column's
    header carries an arrow. The table sorts the rows it is given itself, unless the
    pane sorts on the server (``server_sorted``): then it only keeps the choice, marks
    the header and posts :class:`SortChanged` for the pane to read the rows again.
    """

    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort_next", "Sort by the next column", show=False),
        Binding("S", "sort_reverse", "Reverse the sort", show=False),
    ]

    class SortChanged(Message):
        """The operator chose another order (``column`` None: the rows' own order)."""

        def __init__(self, table: KeyedTable, column: str | None, descending: bool) -> None:
            super().__init__()
            self.table = table
            self.column = column
            self.descending = descending

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        *,
        id: str | None = None,
        classes: str | None = None,
        sortable: Sequence[str] | None = None,
        server_sorted: bool = False,
        sort: tuple[str, bool] | None = None,
    ) -> None:
        """Args:
        columns: ``(key, label)`` of each column, in order.
        id: the widget id.
        classes: CSS classes.
        sortable: the column keys ``s`` cycles through (default: every column).
        server_sorted: the rows arrive sorted; ``s``/``S`` only ask for another order.
        sort: the order shown at first, ``(column, descending)``; None is the rows' own.
        """
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._column_spec = tuple(columns)
        self._labels = dict(columns)
        self._sortable = tuple(sortable) if sortable is not None else tuple(self._labels)
        self._server_sorted = server_sorted
        self._default_sort = sort
        self.sort_column: str | None = sort[0] if sort else None
        self.sort_descending: bool = sort[1] if sort else False
        self._keys: list[Hashable] = []
        self._values: dict[Hashable, tuple[object, ...]] = {}
        self._given: list[tuple[Hashable, Sequence[object]]] = []

    def on_mount(self) -> None:
        for key, label in self._column_spec:
            self.add_column(label, key=key)
        self._mark_header()

    # -- sorting ------------------------------------------------------------------

    def action_sort_next(self) -> None:
        """The next sortable column (after the last one: back to the rows' own order)."""
        if self.sort_column is None:
            column: str | None = self._sortable[0] if self._sortable else None
        else:
            at = (
                self._sortable.index(self.sort_column) if self.sort_column in self._sortable else -1
            )
            column = self._sortable[at + 1] if at + 1 < len(self._sortable) else None
        if column is None and self._default_sort is not None:
            column = self._default_sort[0]
        self._set_sort(column, self.sort_descending if column is not None else False)

    def action_sort_reverse(self) -> None:
        """The same column the other way round (sorting by the first one if none was)."""
        if self.sort_column is None:
            self.action_sort_next()
            return
        self._set_sort(self.sort_column, not self.sort_descending)

    def _set_sort(self, column: str | None, descending: bool) -> None:
        self.sort_column, self.sort_descending = column, descending
        self._mark_header()
        if not self._server_sorted and self._given:
            self.set_rows(self._given)
        self.post_message(self.SortChanged(self, column, descending))

    def _mark_header(self) -> None:
        for key, label in self._labels.items():
            column = self.columns.get(ColumnKey(key))
            if column is None:
                continue
            text = Text(label)
            if key == self.sort_column:
                text.append(ARROWS[self.sort_descending], style="bold")
            column.label = text
            column.content_width = max(column.content_width, text.cell_len)
        self._require_update_dimensions = True
        self.refresh()

    def _sorted(self, rows: Sequence[Row]) -> list[Row]:
        if self._server_sorted or self.sort_column is None:
            return list(rows)
        at = [k for k, _ in self._column_spec].index(self.sort_column)
        ordered = sorted(rows, key=lambda r: sort_value(r[1][at]), reverse=self.sort_descending)
        if self.sort_descending:  # unknowns stay last either way
            ordered.sort(key=lambda r: sort_value(r[1][at])[0] == 2)
        return ordered

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
        """Show exactly ``rows`` (key, cells), in the chosen order, touching only what changed."""
        self._given = list(rows)
        rows = self._sorted(rows)
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
